// Batch executors for offline jobs (calibration). Both run the same small shell script per job,
// which records the command's exit status in a file beside the log; that file, not the executor's
// memory, is the truth about how a job ended, so states survive the submitting process exiting.
import { execFile, spawn } from "node:child_process";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { promisify } from "node:util";
import type { JobState } from "./catalogue.ts";
import { SaseError } from "../core/index.ts";

const run = promisify(execFile);

/** What an executor needs to start one job. */
export interface JobSpec {
  /** Catalogue job id (names the job in the batch system). */
  readonly id: number;
  readonly name: string;
  readonly command: readonly string[];
  readonly cwd: string;
  /** stdout+stderr of the job; `<logPath>.sh` is its script, `<logPath>.exit` its exit status. */
  readonly logPath: string;
}

/** How a job stands according to its executor. */
export interface JobStatus {
  readonly state: JobState;
  readonly exitCode?: number;
  readonly error?: string;
}

/** Runs jobs somewhere: a local process pool or a batch system. */
export interface Executor {
  /** "local" or "slurm": stored with each job. */
  readonly name: string;
  /** How many jobs may run at once; more stay queued in the catalogue (Infinity: the system queues). */
  readonly capacity: number;
  /** Starts (or enqueues) a job; returns the id the executor knows it by. */
  submit(job: JobSpec): Promise<string>;
  /** Current state of a submitted job. */
  status(externalId: string, job: JobSpec): Promise<JobStatus>;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// The job script: run the command, then publish its exit status atomically (write + rename).
async function writeJobScript(job: JobSpec): Promise<string> {
  await mkdir(dirname(job.logPath), { recursive: true });
  const script = `${job.logPath}.sh`;
  const exit = `${job.logPath}.exit`;
  const body = [
    "#!/bin/sh",
    `# sase job ${job.id}: ${job.name}`,
    `cd ${shellQuote(job.cwd)} || exit 1`,
    job.command.map(shellQuote).join(" "),
    "code=$?",
    `echo $code > ${shellQuote(`${exit}.tmp`)} && mv ${shellQuote(`${exit}.tmp`)} ${shellQuote(exit)}`,
    "exit $code",
    "",
  ].join("\n");
  await writeFile(script, body, { mode: 0o755 });
  return script;
}

/** The exit status a job script recorded, or undefined while it has not ended. */
function recordedExit(job: JobSpec): JobStatus | undefined {
  const file = `${job.logPath}.exit`;
  if (!existsSync(file)) return undefined;
  const code = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
  if (code === 0) return { state: "done", exitCode: 0 };
  // The log's last line is the command's own one-line error (sase: CODE: message): the reason to show.
  const reason = lastLine(job.logPath);
  return {
    state: "failed",
    exitCode: code,
    error: `exited with status ${code}${reason ? `: ${reason}` : ""}`,
  };
}

/** The last non-empty line of a text file, or "" if it cannot be read. */
function lastLine(path: string): string {
  try {
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    return lines[lines.length - 1]?.trim() ?? "";
  } catch {
    return "";
  }
}

/** Local worker pool: each job a detached child process, at most `capacity` at once. */
export class LocalExecutor implements Executor {
  readonly name = "local";
  constructor(readonly capacity = 2) {}

  async submit(job: JobSpec): Promise<string> {
    const script = await writeJobScript(job);
    const fd = openSync(job.logPath, "a");
    try {
      const child = spawn("/bin/sh", [script], { detached: true, stdio: ["ignore", fd, fd], cwd: job.cwd });
      child.unref();
      if (child.pid === undefined)
        throw new SaseError("JOB_FAILED", `could not start job ${job.id} (${job.command[0]})`);
      return String(child.pid);
    } finally {
      closeSync(fd);
    }
  }

  async status(externalId: string, job: JobSpec): Promise<JobStatus> {
    const ended = recordedExit(job);
    if (ended) return ended;
    // Alive only if the pid still runs our script (guards against pid reuse).
    const cmdline = await readFile(`/proc/${externalId}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(`${job.logPath}.sh`)) return { state: "running" };
    // The script may have finished between the two checks.
    return (
      recordedExit(job) ?? {
        state: "failed",
        error: `process ${externalId} ended without an exit status (killed?)`,
      }
    );
  }
}

/** Options of the SLURM executor. */
export interface SlurmOptions {
  /** Partition to submit to (sbatch -p); default: the cluster's default partition. */
  partition?: string;
  /** Folder holding sbatch/squeue/sacct; default: found on PATH. */
  binDir?: string;
  /** Extra sbatch arguments, e.g. ["--time=01:00:00"]. */
  extraArgs?: string[];
}

/** SLURM: sbatch to submit, squeue while queued/running, the recorded exit status (or sacct) after. */
export class SlurmExecutor implements Executor {
  readonly name = "slurm";
  readonly capacity = Number.POSITIVE_INFINITY;
  constructor(private readonly opts: SlurmOptions = {}) {}

  private bin(name: string): string {
    return this.opts.binDir ? `${this.opts.binDir}/${name}` : name;
  }

  /** The sbatch argument list for a job (exposed so its shape can be checked). */
  sbatchArgs(job: JobSpec, script: string): string[] {
    const args = [
      "--parsable",
      `--job-name=sase-${job.name}-${job.id}`,
      `--output=${job.logPath}`,
      "--open-mode=append",
    ];
    args.push(`--chdir=${job.cwd}`);
    if (this.opts.partition) args.push(`--partition=${this.opts.partition}`);
    args.push(...(this.opts.extraArgs ?? []), script);
    return args;
  }

  async submit(job: JobSpec): Promise<string> {
    const script = await writeJobScript(job);
    try {
      const { stdout } = await run(this.bin("sbatch"), this.sbatchArgs(job, script));
      const id = stdout.trim().split(";")[0]!;
      if (!/^\d+$/.test(id))
        throw new SaseError("JOB_FAILED", `sbatch printed "${stdout.trim()}" instead of a job id`);
      return id;
    } catch (e) {
      const err = e as Error & { stderr?: string; code?: string };
      if (err.code === "ENOENT")
        throw new SaseError("JOB_FAILED", "sbatch not found (is SLURM installed and on PATH?)");
      throw new SaseError(
        "JOB_FAILED",
        `sbatch failed for job ${job.id}: ${(err.stderr ?? err.message).trim()}`,
      );
    }
  }

  async status(externalId: string, job: JobSpec): Promise<JobStatus> {
    const ended = recordedExit(job);
    if (ended) return ended;
    const q = await run(this.bin("squeue"), ["-h", "-j", externalId, "-o", "%T"]).catch(() => ({
      stdout: "",
    }));
    const state = q.stdout.trim();
    if (["PENDING", "CONFIGURING", "REQUEUED", "RESV_DEL_HOLD", "SUSPENDED"].includes(state))
      return { state: "queued" };
    if (["RUNNING", "COMPLETING", "STAGE_OUT"].includes(state)) return { state: "running" };
    const again = recordedExit(job);
    if (again) return again;
    // Gone from the queue without an exit status: the script never ran to the end. Ask the
    // controller (it keeps finished jobs for MinJobAge), then accounting, why.
    const ctl = await run(this.bin("scontrol"), ["-o", "show", "job", externalId]).catch(() => ({
      stdout: "",
    }));
    const ctlState = /JobState=(\S+)/.exec(ctl.stdout)?.[1];
    if (ctlState) {
      const code = /ExitCode=(\S+)/.exec(ctl.stdout)?.[1] ?? "?";
      return {
        state: "failed",
        error: `SLURM job ${externalId} ended as ${ctlState} (exit ${code}) without running to the end`,
      };
    }
    const acct = await run(this.bin("sacct"), [
      "-n",
      "-X",
      "-P",
      "-j",
      externalId,
      "-o",
      "State,ExitCode",
    ]).catch(() => ({ stdout: "" }));
    const line = acct.stdout.trim().split("\n")[0] ?? "";
    if (state === "" && line === "") {
      return { state: "failed", error: `SLURM job ${externalId} left the queue without an exit status` };
    }
    return { state: "failed", error: `SLURM job ${externalId} ended as ${line || state}` };
  }
}

/** Whether SLURM commands answer on this machine (a controller is up). */
export async function slurmAvailable(binDir?: string): Promise<boolean> {
  try {
    await run(binDir ? `${binDir}/sinfo` : "sinfo", ["-h"], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}
