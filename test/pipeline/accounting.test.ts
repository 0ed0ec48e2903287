// Loss accounting along a chain over TCP, as the split facility runs it: module outputs → one
// correction per module (drop when busy) → an assembler input on every correction output (drop when
// busy). At every hop, what the senders wrote is what the receivers got plus what the outputs dropped
// for them (plus what a broken connection lost), once the streams have ended.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InputChannel } from "../../src/pipeline/index.ts";
import { until } from "../helpers/until.ts";
import { sleep, smallData, tcpOutput } from "./helpers.ts";

const TRAINS = 40;

test("every hop of a chain that drops accounts for each token: sent = received + dropped + lost", async () => {
  const modules = await Promise.all([0, 1].map((m) => tcpOutput(`TEST/DET/${m}CH0:xtdf`)));
  const corrections = await Promise.all([0, 1].map((m) => tcpOutput(`TEST/CORR/${m}CH0:output`)));
  const correctionInputs = modules.map((mod, m) =>
    new InputChannel(`TEST/CORR/${m}CH0:input`, { connectedOutputChannels: [mod.spec], onSlowness: "drop" })
      .onData(async (token) => {
        await sleep(8); // slower than the module: some trains are dropped here
        await corrections[m]!.output.write(token.data, { timestamp: token.meta.timestamp });
      })
      .onEndOfStream(() => corrections[m]!.output.endOfStream()),
  );
  let ended = false;
  const assembler = new InputChannel("TEST/CAL/ASSEMBLER:input", {
    connectedOutputChannels: corrections.map((c) => c.spec),
    onSlowness: "drop",
  })
    .onData(async () => {
      await sleep(15); // slower still: drops at the assembler too
    })
    .onEndOfStream(() => {
      ended = true;
    });
  const inputs = [...correctionInputs, assembler];
  try {
    for (const i of inputs) i.connect();
    await Promise.all(inputs.map((i) => i.waitConnected(20_000)));
    for (let t = 1; t <= TRAINS; t++) {
      for (const mod of modules) await mod.output.write(smallData(t), { trainId: t });
      await sleep(2);
    }
    await Promise.all(modules.map((m) => m.output.endOfStream()));
    await until(() => ended, "the end of stream at the assembler", 30_000);

    // Modules → corrections, per module.
    for (const [m, mod] of modules.entries()) {
      const s = correctionInputs[m]!.stats();
      assert.equal(mod.output.stats().tokensWritten, TRAINS);
      assert.equal(s.tokens + s.dropped + s.lost, TRAINS, `module ${m}: ${JSON.stringify(s.connections)}`);
      assert.equal(s.dropped, mod.output.stats().dropped, `module ${m}: drops as the output counts them`);
    }
    // Corrections → assembler, summed over its connections and per connection.
    const written = corrections.map((c) => c.output.stats().tokensWritten);
    const a = assembler.stats();
    assert.equal(a.tokens + a.dropped + a.lost, written[0]! + written[1]!, JSON.stringify(a.connections));
    for (const [m, c] of a.connections.entries())
      assert.equal(c.tokens + c.dropped + c.lost, written[m], `correction ${m}: ${JSON.stringify(c)}`);
    // The chain did drop at both hops, so the sums above were put to the test.
    assert.ok(correctionInputs.some((i) => i.stats().dropped > 0), "no drops at the corrections");
    assert.ok(a.dropped > 0, "no drops at the assembler");
  } finally {
    await Promise.all(inputs.map((i) => i.close()));
    await Promise.all([...modules, ...corrections].map((o) => o.output.close()));
  }
});
