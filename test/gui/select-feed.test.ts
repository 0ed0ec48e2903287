// The live image's raw/corrected switch: only the selected feed is subscribed, frames come from it,
// and the page's message to switch is checked like any other.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageFeed, LiveFrame } from "../../src/gui/server/backend.ts";
import { SelectableImageFeed } from "../../src/gui/server/detector-feed.ts";
import { parseClientMessage, ProtocolError } from "../../src/gui/server/protocol.ts";

class Feed implements ImageFeed {
  readonly listeners = new Set<(f: LiveFrame) => void>();
  constructor(readonly source: string) {}
  subscribe(l: (f: LiveFrame) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(trainId: number): void {
    const f = { trainId, sentMs: 0, width: 1, height: 1, pixels: new Float32Array(1) };
    for (const l of this.listeners) l(f);
  }
}

test("a selectable feed shows one view at a time and switches between them", () => {
  const corrected = new Feed("AGIPD (corrected, assembled)");
  const raw = new Feed("AGIPD (raw, assembled)");
  const feed = new SelectableImageFeed(
    new Map([
      ["corrected", corrected],
      ["raw", raw],
    ]),
    "corrected",
  );
  assert.deepEqual(feed.views, ["corrected", "raw"]);
  const got: number[] = [];
  const off = feed.subscribe((f) => got.push(f.trainId));
  assert.equal(corrected.listeners.size, 1);
  assert.equal(raw.listeners.size, 0, "the view not shown receives nothing");
  corrected.emit(1);
  feed.selectView("raw");
  assert.equal(feed.source, "AGIPD (raw, assembled)");
  assert.equal(corrected.listeners.size, 0);
  corrected.emit(2);
  raw.emit(3);
  assert.deepEqual(got, [1, 3]);
  assert.throws(() => feed.selectView("dark"), /no view "dark" \(corrected, raw\)/);
  off();
  assert.equal(raw.listeners.size, 0);
  assert.deepEqual(parseClientMessage('{"t":"imageSelect","view":"raw"}'), { t: "imageSelect", view: "raw" });
  assert.throws(() => parseClientMessage('{"t":"imageSelect","view":""}'), ProtocolError);
});
