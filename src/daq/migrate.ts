// Migration: copies a run's raw files from the online store to the offline store, then reads every
// copy back from disk and compares SHA-256 checksums with the source before the run counts as
// migrated. Per-file state in the catalogue lets an interrupted migration resume where it stopped.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Catalogue, RunRecord } from "./catalogue.ts";
import { CatalogueError } from "./catalogue.ts";
import { rawRunDir } from "./config.ts";

/** Progress of a migration, for progress bars and logs. */
export type MigrationEvent =
  | { type: "file-copied"; run: RunRecord; path: string; bytes: number }
  | { type: "file-verified"; run: RunRecord; path: string; bytes: number }
  | { type: "file-corrupt"; run: RunRecord; path: string; expected: string; found: string };

/** How a run's migration ended. */
export interface MigrationResult {
  readonly run: RunRecord;
  readonly status: "migrated" | "failed" | "interrupted";
  readonly error?: string;
  readonly bytesCopied: number;
}

export interface MigrateOptions {
  /** Offline store root; the run lands in `<offline>/p<proposal>/raw/r<run>`. */
  offlineRoot: string;
  /** Aborting stops after the file in progress; the next call resumes. */
  signal?: AbortSignal;
  onProgress?: (e: MigrationEvent) => void;
}

/** SHA-256 (hex) of a file, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Every file under `dir`, as paths relative to it ('/'-separated), sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)).split(sep).join("/"));
  }
  return out.sort();
}

// Copies src to dst through a temporary name, hashing the bytes as they pass; fsyncs before the
// rename so that "copied" in the catalogue always means the bytes are on disk.
async function copyHashing(src: string, dst: string): Promise<{ sha256: string; bytes: number }> {
  await mkdir(dirname(dst), { recursive: true });
  const tmp = `${dst}.part`;
  const hash = createHash("sha256");
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(createReadStream(src, { highWaterMark: 1 << 20 }), tap, createWriteStream(tmp));
  const fh = await open(tmp, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, dst);
  return { sha256: hash.digest("hex"), bytes };
}

/** Migrates one run (good or unclear only). Resumes an interrupted one; retries corrupt files of a
 * failed one. A checksum mismatch fails the run and names the file. */
export async function migrateRun(
  cat: Catalogue,
  run: RunRecord,
  opts: MigrateOptions,
): Promise<MigrationResult> {
  if (run.quality === "bad")
    throw new CatalogueError(`run ${run.number} is flagged bad: bad runs are not migrated`);
  if (run.quality === null) {
    throw new CatalogueError(
      `run ${run.number} has no quality flag yet: flag it good or unclear to migrate it`,
    );
  }
  if (run.state !== "closed") throw new CatalogueError(`run ${run.number} is still recording`);
  const dest = rawRunDir(opts.offlineRoot, run.proposal, run.number);
  cat.setMigration(run.id, "migrating", { offlinePath: dest });
  let bytesCopied = 0;
  const fail = (error: string): MigrationResult => {
    cat.setMigration(run.id, "failed", { error });
    return { run: cat.runById(run.id), status: "failed", error, bytesCopied };
  };

  let names: string[];
  try {
    names = await listFiles(run.onlinePath);
  } catch (e) {
    return fail(`cannot read the online run folder ${run.onlinePath}: ${(e as Error).message}`);
  }
  if (names.length === 0) return fail(`the online run folder ${run.onlinePath} holds no files`);
  for (const name of names) cat.addRunFile(run.id, name, (await stat(join(run.onlinePath, name))).size);

  // Phase 1: copy whatever is not on the offline side yet (corrupt copies are copied again).
  for (const f of cat.runFiles(run.id)) {
    if (f.state === "copied" || f.state === "verified") continue;
    if (opts.signal?.aborted) return { run: cat.runById(run.id), status: "interrupted", bytesCopied };
    const { sha256, bytes } = await copyHashing(join(run.onlinePath, f.path), join(dest, f.path));
    bytesCopied += bytes;
    cat.setFileState(run.id, f.path, "copied", { source: sha256 });
    opts.onProgress?.({ type: "file-copied", run, path: f.path, bytes });
  }
  // Phase 2: read every copy back from the offline disk and compare with the source checksum.
  let corrupt = 0;
  for (const f of cat.runFiles(run.id)) {
    if (opts.signal?.aborted) return { run: cat.runById(run.id), status: "interrupted", bytesCopied };
    const target = join(dest, f.path);
    const found = await sha256File(target).catch(() => "missing");
    if (found === f.sourceSha256) {
      cat.setFileState(run.id, f.path, "verified", { copy: found });
      opts.onProgress?.({ type: "file-verified", run, path: f.path, bytes: f.size });
    } else {
      corrupt++;
      cat.setFileState(run.id, f.path, "corrupt", { copy: found });
      opts.onProgress?.({ type: "file-corrupt", run, path: f.path, expected: f.sourceSha256 ?? "?", found });
      await rm(target, { force: true });
    }
  }
  if (corrupt > 0) {
    const bad = cat
      .runFiles(run.id)
      .filter((f) => f.state === "corrupt")
      .map((f) => f.path);
    return fail(
      `checksum mismatch in ${bad.join(", ")}: the offline copy differs from the online file; ` +
        `run not marked migrated (retry with: sase migrate --run ${run.number} --proposal ${run.proposal})`,
    );
  }
  cat.setMigration(run.id, "migrated");
  return { run: cat.runById(run.id), status: "migrated", bytesCopied };
}

/** Migrates every closed run flagged good or unclear that is not migrated yet (bad runs never). */
export async function migratePending(cat: Catalogue, opts: MigrateOptions): Promise<MigrationResult[]> {
  const results: MigrationResult[] = [];
  for (const run of cat.runsToMigrate()) {
    if (opts.signal?.aborted) break;
    results.push(await migrateRun(cat, run, opts));
  }
  return results;
}
