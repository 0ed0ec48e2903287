// Notebooks headless through Jupyter's nbclient (Debian) and sase's TypeScript kernel: every shipped
// notebook runs without an error and shows rich output; parameters are injected after the cell tagged
// "parameters"; the report starts with provenance (inputs with SHA-256); a failing cell is named.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type NotebookError, runNotebook } from "../../src/notebook/index.ts";

function jupyterMissing(): string | false {
  try {
    execFileSync("/usr/bin/python3", ["-c", "import nbclient, nbconvert"], { stdio: "ignore" });
    return false;
  } catch {
    return "Debian's python3-nbclient and python3-nbconvert are not installed (.ci/run installs them)";
  }
}

const out = mkdtempSync(join(tmpdir(), "sase-nbtest-"));
after(() => rmSync(out, { recursive: true, force: true }));

type Output = { output_type: string; data?: Record<string, unknown>; text?: string; ename?: string };
function outputsOf(path: string): Output[][] {
  const nb = JSON.parse(readFileSync(path, "utf8")) as { cells: { outputs?: Output[] }[] };
  return nb.cells.map((c) => c.outputs ?? []);
}

describe("notebooks", { skip: jupyterMissing(), timeout: 300_000 }, () => {
  for (const name of readdirSync("notebooks").filter((f) => f.endsWith(".ipynb"))) {
    test(`${name} runs headless and shows rich output`, async () => {
      const base = join(out, name.replace(".ipynb", ""));
      const r = await runNotebook(join("notebooks", name), {
        outIpynb: `${base}.ipynb`,
        outHtml: `${base}.html`,
      });
      const outputs = outputsOf(r.ipynb).flat();
      assert.deepEqual(
        outputs.filter((o) => o.output_type === "error").map((o) => o.ename),
        [],
      );
      const rich = outputs.filter(
        (o) => o.data && ("image/svg+xml" in o.data || "image/png" in o.data || "text/html" in o.data),
      );
      assert.ok(rich.length >= 2, `${name}: only ${rich.length} rich outputs`);
      const html = readFileSync(r.html, "utf8");
      assert.ok(html.indexOf("Provenance") < html.indexOf("<svg") || !html.includes("<svg"));
    });
  }

  test("parameters are injected, inputs checksummed in the provenance, and a failing cell is named", async () => {
    const input = join(out, "input.txt");
    writeFileSync(input, "some input");
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        {
          cell_type: "code",
          metadata: { tags: ["parameters"] },
          source: 'const n = 1;\nconst input = "";',
          outputs: [],
          execution_count: null,
        },
        { cell_type: "code", metadata: {}, source: "n * 2", outputs: [], execution_count: null },
        {
          cell_type: "code",
          metadata: {},
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the cell's own TypeScript source, with its template literal
          source: "throw new RangeError(`no beam in ${input}`);",
          outputs: [],
          execution_count: null,
        },
        { cell_type: "code", metadata: {}, source: "'never reached'", outputs: [], execution_count: null },
      ],
    };
    const path = join(out, "params.ipynb");
    writeFileSync(path, JSON.stringify(nb));
    const ipynb = join(out, "params.out.ipynb");
    await assert.rejects(
      runNotebook(path, {
        params: { n: "21", input },
        outIpynb: ipynb,
        outHtml: join(out, "params.out.html"),
      }),
      (e: NotebookError) => {
        assert.equal(e.cell, 2);
        assert.match(
          e.message,
          /cell 3 failed \(throw new RangeError.*\): RangeError: no beam in .*input\.txt/,
        );
        return true;
      },
    );
    const executed = JSON.parse(readFileSync(ipynb, "utf8")) as {
      cells: { source: string | string[]; outputs?: Output[] }[];
    };
    const src = (c: { source: string | string[] }) =>
      Array.isArray(c.source) ? c.source.join("") : c.source;
    assert.match(src(executed.cells[0]!), /## Provenance/);
    const sha = createHash("sha256").update("some input").digest("hex");
    assert.ok(src(executed.cells[0]!).includes(sha), "the input's SHA-256 is in the provenance cell");
    assert.match(src(executed.cells[2]!), /const n = 21;/);
    const doubled = executed.cells[3]!.outputs![0]!;
    assert.equal(src({ source: (doubled.data as Record<string, string | string[]>)["text/plain"]! }), "42");
  });
});
