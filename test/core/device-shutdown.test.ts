// A background task that its own device's shutdown cuts off (threads closed, a stream ended) is part
// of the shutdown: it must not put the device in ERROR or log a fault on every Ctrl-C.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, DeviceServer, defineDevice, InProcessBroker, State } from "../../src/core/index.ts";

let release: (err: Error) => void = () => {};

class Worker extends defineDevice({ classId: "ShutdownProbe", schema: {} }) {
  override onInit(): void {
    this.updateState(State.ON, "ready");
    // Pending until onShutdown closes what it waits on, as a simulation thread pool does.
    this.background("waiting task", () => new Promise<void>((_, reject) => (release = reject)));
  }
  override async onShutdown(): Promise<void> {
    release(new Error("threads closed"));
    await new Promise((r) => setImmediate(r));
  }
}

test("a task failing because its device shuts down is not a fault", async () => {
  const lines: string[] = [];
  const log = createLogger("test", (line) => lines.push(line));
  const broker = new InProcessBroker();
  const server = new DeviceServer({ serverId: "test/shutdown", broker, classes: [Worker], log });
  await server.start();
  await server.instantiate("ShutdownProbe", "TEST/SHUTDOWN/1", {});
  const device = server.device("TEST/SHUTDOWN/1");
  assert.ok(device);
  await server.stop();
  await broker.close();
  assert.equal(device.state, State.ON);
  assert.deepEqual(
    lines.filter((l) => /fault|ERROR/.test(l)),
    [],
  );
});
