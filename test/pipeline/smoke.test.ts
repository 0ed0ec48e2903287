import assert from "node:assert/strict";
import { test } from "node:test";
import { collect, Rig, smallData, until } from "./helpers.ts";

test("smoke: local copy delivers and ends the stream", async () => {
  const rig = new Rig();
  const inp = rig.input("a");
  await inp.waitConnected();
  const got = collect(inp);
  for (let i = 1; i <= 5; i++) await rig.output.write(smallData(i));
  await rig.output.endOfStream();
  await until(() => got.eos === 1, "eos");
  assert.deepEqual(got.trains, [1, 2, 3, 4, 5]);
  await rig.close();
});
