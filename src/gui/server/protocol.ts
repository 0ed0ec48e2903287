// Checks messages from the browser before anything acts on them: the page is untrusted input.
import type { ClientMessage, JsonValue } from "../api.ts";
import { parseAnalysisRequest } from "./analysis.ts";
import { SaseError } from "../../core/index.ts";

/** A message that is not a valid ClientMessage; the text says what was wrong. */
export class ProtocolError extends SaseError {
  override name = "ProtocolError";
  constructor(message: string) {
    super("BAD_REQUEST", message);
  }
}

type Obj = Record<string, unknown>;

/** Largest server-side binning a page may ask for. */
export const MAX_BINNING = 8;

function str(m: Obj, k: string, maxLen = 256): string {
  const v = m[k];
  if (typeof v !== "string" || v.length === 0 || v.length > maxLen) {
    throw new ProtocolError(`"${k}" must be a non-empty string of at most ${maxLen} characters`);
  }
  return v;
}

function anyStr(m: Obj, k: string, maxLen = 256): string {
  const v = m[k];
  if (typeof v !== "string" || v.length > maxLen) throw new ProtocolError(`"${k}" must be a string`);
  return v;
}

function num(m: Obj, k: string): number {
  const v = m[k];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ProtocolError(`"${k}" must be a finite number`);
  return v;
}

function bool(m: Obj, k: string): boolean {
  const v = m[k];
  if (typeof v !== "boolean") throw new ProtocolError(`"${k}" must be true or false`);
  return v;
}

function record(m: Obj, k: string): Record<string, JsonValue> {
  const v = m[k];
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ProtocolError(`"${k}" must be an object`);
  return v as Record<string, JsonValue>;
}

/** Parses and checks one text frame from the page. */
export function parseClientMessage(text: string): ClientMessage {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new ProtocolError("message is not JSON");
  }
  if (typeof m !== "object" || m === null || Array.isArray(m))
    throw new ProtocolError("message must be an object");
  const o = m as Obj;
  switch (o.t) {
    case "watchDevice":
    case "unwatchDevice":
      return { t: o.t, deviceId: str(o, "deviceId") };
    case "set":
      return { t: "set", req: num(o, "req"), deviceId: str(o, "deviceId"), values: record(o, "values") };
    case "call":
      return { t: "call", req: num(o, "req"), deviceId: str(o, "deviceId"), slot: str(o, "slot") };
    case "instantiate":
      return {
        t: "instantiate",
        req: num(o, "req"),
        serverId: str(o, "serverId"),
        classId: str(o, "classId"),
        deviceId: str(o, "deviceId"),
        config: record(o, "config"),
      };
    case "kill":
      return { t: "kill", req: num(o, "req"), deviceId: str(o, "deviceId") };
    case "watchImage":
      return { t: "watchImage", on: bool(o, "on") };
    case "imageSelect":
      return { t: "imageSelect", view: str(o, "view", 32) };
    case "imageView": {
      const b = num(o, "binning");
      if (!Number.isInteger(b) || b < 1 || b > MAX_BINNING) {
        throw new ProtocolError(`"binning" must be an integer 1..${MAX_BINNING}`);
      }
      if (o.region === undefined) return { t: "imageView", binning: b };
      if (typeof o.region !== "object" || o.region === null)
        throw new ProtocolError(`"region" must be {x, y, w, h}`);
      const r = o.region as Obj;
      const region = { x: num(r, "x"), y: num(r, "y"), w: num(r, "w"), h: num(r, "h") };
      if (region.w <= 0 || region.h <= 0) throw new ProtocolError(`"region" must have a positive size`);
      return { t: "imageView", binning: b, region };
    }
    case "imageDrawn":
      return { t: "imageDrawn", trainId: num(o, "trainId") };
    case "setRoi":
      return { t: "setRoi", x: num(o, "x"), y: num(o, "y"), w: num(o, "w"), h: num(o, "h") };
    case "trend":
      return { t: "trend", deviceId: str(o, "deviceId"), key: str(o, "key"), on: bool(o, "on") };
    case "runs":
      return { t: "runs", req: num(o, "req") };
    case "runControl": {
      const action = o.action;
      if (action !== "start" && action !== "stop")
        throw new ProtocolError(`"action" must be "start" or "stop"`);
      return {
        t: "runControl",
        req: num(o, "req"),
        action,
        runType: anyStr(o, "runType"),
        sample: anyStr(o, "sample"),
      };
    }
    case "setQuality":
      return {
        t: "setQuality",
        req: num(o, "req"),
        proposal: num(o, "proposal"),
        run: num(o, "run"),
        quality: str(o, "quality"),
      };
    case "runTable":
      return { t: "runTable", req: num(o, "req") };
    case "analysis":
      try {
        return parseAnalysisRequest(o);
      } catch (e) {
        throw new ProtocolError((e as Error).message);
      }
    case "tableCell":
      return {
        t: "tableCell",
        req: num(o, "req"),
        proposal: num(o, "proposal"),
        run: num(o, "run"),
        name: str(o, "name"),
      };
    case "tableComment":
      return {
        t: "tableComment",
        req: num(o, "req"),
        proposal: num(o, "proposal"),
        run: num(o, "run"),
        comment: anyStr(o, "comment", 2000),
      };
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(o.t)}`);
  }
}
