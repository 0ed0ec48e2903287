// The sequence files of one aggregator of a run: each made from the first one's skeleton, or through
// HDF5 for the first; a flush in two steps (HDF5 allocates, the caller writes the rows directly, then
// the other datasets and INDEX, the train list last); a file cut to what was written at its close.
import { join } from "node:path";
import { allocTyped, type DType, SASE_VERSION, shapeSize, type TypedArray } from "../core/index.ts";
import { pwriteSync, type RowWrite } from "./direct.ts";
import { H5File, type H5Snapshot } from "./h5.ts";
import { formatFileName } from "./naming.ts";
import {
  type ControlSourceSpec,
  type DatasetPlan,
  type KeySpec,
  nsOf,
  type SourcePlan,
  toEntries,
  WRITTEN_FORMAT_VERSION,
  type WriterSettings,
} from "./write-plan.ts";

/** Chunks of at least ALIGNED_CHUNK_BYTES (writer.ts) start at this alignment in the file (alignForChunks). */
const CHUNK_ALIGNMENT = 4096;

/** A date as EXDF writes it in METADATA: 20261207T192600Z. */
function dateText(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** The pieces of a dataset's rows as one typed array (the piece itself when there is one). */
function concat(dtype: DType, pieces: TypedArray[], n: number): TypedArray {
  if (pieces.length === 1 && pieces[0]?.length === n) return pieces[0];
  const out = allocTyped(dtype, n);
  let off = 0;
  for (const p of pieces) {
    (out as Uint8Array).set(p as Uint8Array, off);
    off += p.length;
  }
  return out;
}

/** What an aggregator needs of the run writer it writes for. */
export interface AggregatorHost {
  readonly dir: string;
  readonly created: Date;
  readonly options: WriterSettings;
}

/**
 * Trains a dataset written directly is grown ahead by (within its sequence): HDF5 then allocates its
 * chunks, and the file is flushed to list them, once every few trains instead of at every flush.
 */
const TRAINS_AHEAD = 3;

/**
 * A first sequence file's bytes before any train, and where it holds the values that differ between
 * the files made from it (file positions of METADATA's sequenceNumber, runNumber, proposalNumber,
 * creationDate and updateDate, each stored contiguously).
 */
interface Skeleton {
  readonly file: H5Snapshot;
  readonly at: {
    readonly sequence: number;
    readonly run: number;
    readonly proposal: number;
    readonly creationDate: number;
    readonly updateDate: number;
  };
  readonly indexCapacity: number;
}

/**
 * Skeletons of this process's runs by layout (Aggregator.layoutKey), the newest last: a DAQ records
 * run after run from the same sources, and each run's first files then start as copies too (a file
 * made through HDF5 costs ~4 ms warm, ~15 ms cold; 16 detector modules at every run start).
 */
const skeletons = new Map<string, Skeleton>();
const SKELETONS_KEPT = 64;

function rememberSkeleton(key: string, skeleton: Skeleton): void {
  skeletons.delete(key);
  skeletons.set(key, skeleton);
  for (const oldest of skeletons.keys()) {
    if (skeletons.size <= SKELETONS_KEPT) break;
    skeletons.delete(oldest);
  }
}

function uint32Bytes(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}

function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Rows per chunk of INDEX's datasets: a whole sequence, up to 4096 trains. */
const indexChunkRows = (trainsPerSequence: number) => Math.min(trainsPerSequence, 4096);

/** The sequence files of one aggregator. */
export class Aggregator {
  /** Added with addSource. */
  readonly sources: SourcePlan[] = [];
  /** Its datasets in the order a flush writes them; worked out again when a source is added. */
  private writeOrder: readonly DatasetPlan[] | null = null;
  private file: H5File | null = null;
  private sequence = -1;
  private trainsInFile = 0;
  private readonly pendingTrains: { id: number; ns: bigint; flag: number }[] = [];
  private indexRows = 0;
  /** Rows INDEX's datasets have in the open file (trains written and room for more: growIndex). */
  private indexCapacity = 0;
  /** Whether any dataset of this aggregator has aligned chunks (set as sources are added). */
  private alignedChunks = false;
  /** The open file's METADATA/updateDate as last written (whole seconds), and that second. */
  private updateDate = "";
  private updateSecond = 0;
  /** The first file's bytes before any train: later sequence files start as copies of it (see open). */
  private skeleton: Skeleton | null = null;

  constructor(
    private readonly writer: AggregatorHost,
    readonly name: string,
  ) {}

  /** Adds a source (the writer allows it before the first train only). */
  addSource(plan: SourcePlan): void {
    this.sources.push(plan);
    this.writeOrder = null;
    for (const g of plan.groups.values())
      for (const d of g.datasets.values()) if (d.alignedChunks) this.alignedChunks = true;
  }

  /** Trains buffered, not yet written. */
  get buffered(): number {
    return this.pendingTrains.length;
  }

  /** Buffers a train's place in this aggregator's files; what is due now: a flush, or closing the file. */
  addTrain(id: number, ns: bigint, flag: number): "flush" | "close" | undefined {
    if (!this.file) this.open();
    this.pendingTrains.push({ id, ns, flag });
    this.trainsInFile++;
    const o = this.writer.options;
    if (this.trainsInFile >= o.trainsPerSequence) return "close";
    if (this.pendingTrains.length >= o.flushEvery) return "flush";
    return undefined;
  }

  private get fileName(): string {
    const o = this.writer.options;
    return formatFileName({
      category: o.category,
      run: o.run,
      aggregator: this.name,
      sequence: this.sequence,
    });
  }

  private open(): void {
    this.sequence++;
    this.trainsInFile = 0;
    this.indexRows = 0;
    this.indexCapacity = 0;
    // A new file holds no rows yet.
    for (const s of this.sources)
      for (const g of s.groups.values()) {
        g.rows = 0;
        g.written = 0;
        for (const d of g.datasets.values()) {
          d.rows = 0;
          d.capacity = 0;
        }
      }
    const o = this.writer.options;
    // Built under a hidden name and published once its skeleton is flushed: a process killed while
    // HDF5 writes the first headers leaves no file under the EXDF name that h5py cannot open.
    const part = join(this.writer.dir, `.${this.fileName}.part`);
    const skeleton = this.skeleton ?? this.cachedSkeleton();
    if (skeleton) {
      // The sources are fixed since the first train, so every later file starts as the first did but
      // for its sequence number (and, from an earlier run's skeleton, its run): one write instead of
      // ~40 datasets and groups made through HDF5.
      this.skeleton = skeleton;
      const second = Math.floor(Date.now() / 1000);
      this.updateDate = dateText(new Date(second * 1000));
      this.updateSecond = second;
      this.file = H5File.createFrom(part, skeleton.file, [
        [skeleton.at.sequence, uint32Bytes(this.sequence)],
        [skeleton.at.updateDate, asciiBytes(this.updateDate)],
      ]);
      this.indexCapacity = skeleton.indexCapacity;
      this.file.moveTo(join(this.writer.dir, this.fileName), { replace: true });
      return;
    }
    const h5 = H5File.create(part);
    this.file = h5;
    // METADATA
    const ids: string[] = [];
    for (const s of this.sources) {
      if (s.section === "CONTROL") ids.push(`CONTROL/${s.name}`);
      else for (const g of s.groups.keys()) ids.push(`INSTRUMENT/${s.name}/${g}`);
    }
    h5.createStrings("/METADATA/dataSources/dataSourceId", ids, 0, true);
    h5.createStrings(
      "/METADATA/dataSources/root",
      ids.map((i) => i.slice(0, i.indexOf("/"))),
      0,
      true,
    );
    h5.createStrings(
      "/METADATA/dataSources/deviceId",
      ids.map((i) => i.slice(i.indexOf("/") + 1)),
      0,
      true,
    );
    h5.createStrings("/METADATA/dataFormatVersion", [WRITTEN_FORMAT_VERSION]);
    // Fixed-length, as updateDate: a later run's files start as copies of this one's (see Skeleton).
    h5.createStrings("/METADATA/creationDate", [dateText(this.writer.created)], 16);
    // Fixed-length so that it can be rewritten at every flush.
    this.updateDate = dateText(new Date());
    this.updateSecond = 0;
    h5.createStrings("/METADATA/updateDate", [this.updateDate], 16);
    h5.createStrings("/METADATA/daqLibrary", [o.daqLibrary ?? `sase-${SASE_VERSION}`]);
    h5.createStrings("/METADATA/karaboFramework", [o.karaboFramework ?? `sase-${SASE_VERSION}`]);
    h5.createStrings("/METADATA/runType", [o.runType ?? ""]);
    h5.createStrings("/METADATA/sample", [o.sample ?? ""]);
    h5.createFixed("/METADATA/proposalNumber", "uint32", new Uint32Array([o.proposal]), [1]);
    h5.createFixed("/METADATA/runNumber", "uint32", new Uint32Array([o.run]), [1]);
    h5.createFixed("/METADATA/sequenceNumber", "uint32", new Uint32Array([this.sequence]), [1]);
    // INDEX
    const idxChunk = indexChunkRows(o.trainsPerSequence);
    h5.createExtendable("/INDEX/trainId", "uint64", [], idxChunk);
    h5.createExtendable("/INDEX/timestamp", "uint64", [], idxChunk);
    h5.createExtendable("/INDEX/flag", "int32", [], idxChunk);
    h5.createExtendable("/INDEX/origin", "int32", [], idxChunk);
    // INDEX is written like the big datasets: sized for the whole sequence once (below), a flush
    // writes its rows with a few pwrites instead of an HDF5 resize and write per dataset (~0.1 ms
    // each here), the train list last; close cuts it to the trains written.
    for (const k of ["trainId", "timestamp", "flag", "origin"]) h5.writeChunksDirect(`/INDEX/${k}`);
    for (const s of this.sources) {
      for (const g of s.groups.values()) {
        for (const k of ["first", "count"]) {
          h5.createExtendable(`${g.indexPath}/${k}`, "uint64", [], idxChunk);
          h5.writeChunksDirect(`${g.indexPath}/${k}`);
        }
        for (const d of g.datasets.values()) {
          h5.createExtendable(d.path, d.dtype, d.entryShape, d.chunkRows, o.compression);
          // Every row is written before INDEX lists it (rows grown ahead are cut at close), so no chunk
          // needs HDF5's fill (see writeChunksDirect); the chunk index of such a dataset is made once
          // that is set (at the end of open).
          if (d.unfilled) h5.writeChunksDirect(d.path);
          // HDF5 allocates a chunk index's first node (3.6 KB for 3-D entries) just before the first
          // chunk; made now, the first chunk lands where the skeleton's end is aligned.
          else if (d.alignedChunks) h5.createChunkIndex(d.path, d.dtype, d.entryShape);
        }
      }
      if (s.control) this.writeRunSection(h5, s, s.control);
    }
    h5.ensureGroup("/RUN");
    h5.flush();
    // Replacing is what creating in place did: the writer's callers decide about existing runs.
    h5.moveTo(join(this.writer.dir, this.fileName), { replace: true });
    // Sets the fill and allocation times of the datasets written directly (closing and reopening the
    // file), and aligns the end while at it: below a multiple by the size of the chunk indexes made
    // next, so that the file's end is aligned after them. (INDEX's chunks, allocated after those,
    // move it off again: the end check below closes and reopens once more.)
    const unfilled = this.datasetsInWriteOrder().filter((d) => d.unfilled);
    let nodes = 0;
    for (const d of unfilled) nodes += H5File.chunkIndexNodeBytes(d.entryShape);
    h5.alignEnd(CHUNK_ALIGNMENT, nodes);
    // The chunk indexes of datasets written unfilled are made once their fill time is set (the file
    // was reopened just now): the row written to make one then costs a row, not a whole filled chunk.
    for (const d of unfilled) h5.createChunkIndex(d.path, d.dtype, d.entryShape);
    // INDEX for a chunk of trains (every train of a sequence of up to 4096), allocated now: unwritten,
    // zeros in a new file, which readers take for the padding a sequence file of the facility's DAQ
    // has at its end.
    this.growIndex(h5, 1);
    h5.flush();
    // Aligns the end after INDEX's chunks (closing and reopening when it is not).
    this.alignForChunks(h5);
    // Flushed (and aligned): the file as it is now starts every later sequence of this aggregator,
    // and the first sequence of its later runs in this process.
    const at = {
      sequence: h5.contiguousAt("/METADATA/sequenceNumber", 4),
      run: h5.contiguousAt("/METADATA/runNumber", 4),
      proposal: h5.contiguousAt("/METADATA/proposalNumber", 4),
      creationDate: h5.contiguousAt("/METADATA/creationDate", 16),
      updateDate: h5.contiguousAt("/METADATA/updateDate", 16),
    };
    if (Object.values(at).every((x) => x !== null)) {
      this.skeleton = {
        file: h5.snapshot(),
        at: at as Skeleton["at"],
        indexCapacity: this.indexCapacity,
      };
      const key = this.layoutKey();
      if (key !== null) rememberSkeleton(key, this.skeleton);
    }
  }

  /**
   * An earlier run's skeleton for these sources (see rememberSkeleton), its run, proposal and
   * creation date made this run's; null when there is none.
   */
  private cachedSkeleton(): Skeleton | null {
    const key = this.layoutKey();
    const earlier = key === null ? undefined : skeletons.get(key);
    if (!earlier) return null;
    const o = this.writer.options;
    const bytes = new Uint8Array(earlier.file.bytes);
    bytes.set(uint32Bytes(o.run), earlier.at.run);
    bytes.set(uint32Bytes(o.proposal), earlier.at.proposal);
    bytes.set(asciiBytes(dateText(this.writer.created)), earlier.at.creationDate);
    return { ...earlier, file: { bytes, headers: earlier.file.headers } };
  }

  /**
   * What a first file's skeleton depends on besides run, proposal, sequence and dates: its sources
   * with every dataset's type and chunking, and the options written into it. Null when it also holds
   * a RUN section (control sources: their values and timestamps at this run's start).
   */
  private layoutKey(): string | null {
    if (this.sources.some((s) => s.control)) return null;
    const o = this.writer.options;
    return JSON.stringify([
      WRITTEN_FORMAT_VERSION,
      [o.trainsPerSequence, o.compression, o.daqLibrary, o.karaboFramework, o.runType, o.sample],
      this.sources.map((s) => [
        s.name,
        s.section,
        [...s.groups.values()].map((g) => [
          g.indexPath,
          [...g.datasets.values()].map((d) => [d.path, d.dtype, d.entryShape, d.chunkRows]),
        ]),
      ]),
    ]);
  }

  private writeRunSection(h5: H5File, s: SourcePlan, spec: ControlSourceSpec): void {
    for (const [prop, ks] of Object.entries(spec.properties)) {
      const base = `/RUN/${s.name}/${prop.replaceAll(".", "/")}`;
      const shape = [1, ...(ks.entryShape ?? [])];
      const v = spec.runValues?.[prop];
      if (typeof v === "string") {
        h5.createStrings(`${base}/value`, [v]);
      } else {
        const arr = allocTyped(ks.dtype, shapeSize(shape));
        if (v !== undefined) {
          const plan: DatasetPlan = { ...this.dummyPlan(ks), path: base };
          arr.set(toEntries(v, plan, `RUN value ${s.name} ${prop}`).data as never);
        }
        h5.createFixed(`${base}/value`, ks.dtype, arr, shape);
      }
      h5.createFixed(`${base}/timestamp`, "uint64", new BigUint64Array([nsOf(undefined)]), [1]);
    }
  }

  private dummyPlan(ks: KeySpec): DatasetPlan {
    const entryShape = ks.entryShape ?? [];
    return {
      path: "",
      dtype: ks.dtype,
      entryShape,
      rowLen: shapeSize(entryShape),
      chunkRows: 1,
      alignedChunks: false,
      unfilled: false,
      pending: [],
      pendingRows: 0,
      rows: 0,
      capacity: 0,
    };
  }

  /**
   * Writes buffered trains of this aggregator's sources, then flushes the file; unless the file is
   * about to close, its end is then aligned for the next big chunks (see alignForChunks).
   */
  flush(closing = false): void {
    const begun = this.beginFlush();
    if (!begun) return;
    for (const w of begun.writes) pwriteSync(w.fd, w.bytes, w.position);
    begun.finish(closing);
  }

  /**
   * The first part of a flush: HDF5 allocates what the buffered trains need, and the pwrites of the
   * rows written directly are worked out, for the caller to do (flush: one after another; the
   * writer's writeTrainAsync: several files at a time) before it calls `finish`, which writes the
   * rest and INDEX. Undefined when nothing is buffered.
   */
  beginFlush(): { writes: RowWrite[]; finish: (closing: boolean) => void } | undefined {
    const h5 = this.file;
    if (!h5 || this.pendingTrains.length === 0) return undefined;
    const n = this.pendingTrains.length;
    const t = this.pendingTrains.splice(0, n);
    // INDEX of these trains, written like the big datasets (see open).
    const index: { path: string; data: BigUint64Array | Int32Array }[] = [];
    for (const s of this.sources) {
      for (const g of s.groups.values()) {
        const counts = g.pendingCounts.splice(0, n);
        const first = new BigUint64Array(n);
        const count = new BigUint64Array(n);
        counts.forEach((c, i) => {
          first[i] = BigInt(g.rows);
          count[i] = BigInt(c);
          g.rows += c;
        });
        index.push(
          { path: `${g.indexPath}/first`, data: first },
          { path: `${g.indexPath}/count`, data: count },
        );
      }
    }
    index.push(
      { path: "/INDEX/timestamp", data: BigUint64Array.from(t, (x) => x.ns) },
      { path: "/INDEX/flag", data: Int32Array.from(t, (x) => x.flag) },
      { path: "/INDEX/origin", data: new Int32Array(n).fill(-1) },
      // Last: see the end of this method.
      { path: "/INDEX/trainId", data: BigUint64Array.from(t, (x) => BigInt(x.id)) },
    );
    const order = this.datasetsInWriteOrder();
    // Datasets written directly: HDF5 allocates their new chunks as they grow (big ones first, at the
    // aligned end of the file), the flush puts the chunk indexes in the file, and the rows go from the
    // caller's arrays (and INDEX's) to their places there. INDEX/trainId does not list the trains yet:
    // a writer killed meanwhile leaves rows past it, which readers do not read.
    const direct = order.filter((d) => d.unfilled && d.pendingRows > 0);
    // Whether HDF5 allocates anything in this flush (so the chunk indexes in the file change).
    let allocated = false;
    const ahead = Math.min(TRAINS_AHEAD, this.writer.options.trainsPerSequence - this.trainsInFile);
    const grow = (d: DatasetPlan) => {
      const need = d.rows + d.pendingRows;
      if (need <= d.capacity) return;
      // Room for `ahead` more trains like these, in whole chunks: one resize and flush for several.
      const rows = need + Math.ceil((d.pendingRows / n) * ahead);
      d.capacity = Math.ceil(rows / d.chunkRows) * d.chunkRows;
      h5.resize(d.path, d.capacity, d.entryShape);
      allocated = true;
    };
    for (const d of direct) if (d.alignedChunks) grow(d);
    // Other big datasets next, through HDF5: their new chunks follow (no small chunk in between).
    for (const d of order)
      if (d.alignedChunks && d.pendingRows > 0 && !d.unfilled) {
        this.writeThroughHdf5(h5, d);
        allocated = true;
      }
    // Then the small chunks of datasets written directly.
    for (const d of direct) if (!d.alignedChunks) grow(d);
    // INDEX's next chunk, when these trains need one, after the big ones (which start aligned).
    if (this.growIndex(h5, this.indexRows + n)) allocated = true;
    if (allocated) h5.flush();
    const writes: RowWrite[] = [];
    for (const d of direct) {
      const itemBytes = allocTyped(d.dtype, 0).BYTES_PER_ELEMENT;
      let row = d.rows;
      for (const piece of d.pending) {
        const rows = piece.length / d.rowLen;
        writes.push(...h5.rowWrites(d.path, itemBytes, d.entryShape, row, rows, piece));
        row += rows;
      }
      d.rows += d.pendingRows;
      d.pending = [];
      d.pendingRows = 0;
    }
    return { writes, finish: (closing) => this.finishFlush(h5, order, index, n, allocated, closing) };
  }

  /** The rest of a flush, once beginFlush's writes are done: the other datasets, then INDEX. */
  private finishFlush(
    h5: H5File,
    order: readonly DatasetPlan[],
    index: readonly { path: string; data: BigUint64Array | Int32Array }[],
    n: number,
    allocated: boolean,
    closing: boolean,
  ): void {
    // The other datasets through HDF5, and a second flush for them, before INDEX lists their trains.
    let hdf5Wrote = false;
    for (const d of order)
      if (d.pendingRows > 0) {
        this.writeThroughHdf5(h5, d);
        hdf5Wrote = true;
      }
    // Whole seconds: within the second already written, rewriting it would write the same bytes.
    // Written where the skeleton says it is, by pwrite: through HDF5 it cost a write and a flush
    // (~0.5 ms) once a second for every aggregator.
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.updateSecond) {
      const updated = dateText(new Date(second * 1000));
      if (updated !== this.updateDate) {
        const at = this.skeleton?.at.updateDate;
        if (at !== undefined) h5.writeAt(at, asciiBytes(updated));
        else {
          h5.writeFixedStrings("/METADATA/updateDate", [updated]);
          hdf5Wrote = true;
        }
      }
      this.updateDate = updated;
      this.updateSecond = second;
    }
    if (hdf5Wrote) h5.flush();
    // INDEX last, the train list after the rest of it: a reader trusts INDEX/trainId, so it only
    // lists a train once everything of it is in the file.
    for (const x of index)
      h5.writeRowsDirect(x.path, x.data.BYTES_PER_ELEMENT, [], this.indexRows, n, x.data);
    this.indexRows += n;
    if (!closing && (allocated || hdf5Wrote)) this.alignForChunks(h5);
  }

  /**
   * Sizes INDEX for at least `rows` trains, a whole chunk at a time (never past the sequence's
   * length): HDF5 allocates the new chunks, the next flush puts them in the file. True when it grew.
   */
  private growIndex(h5: H5File, rows: number): boolean {
    if (rows <= this.indexCapacity) return false;
    const o = this.writer.options;
    const chunk = indexChunkRows(o.trainsPerSequence);
    this.indexCapacity = Math.min(o.trainsPerSequence, Math.ceil(rows / chunk) * chunk);
    for (const path of this.indexPaths()) h5.resize(path, this.indexCapacity, []);
    return true;
  }

  /** Every INDEX dataset of this aggregator's files: the train list, its columns, each group's. */
  private indexPaths(): string[] {
    const paths = ["/INDEX/trainId", "/INDEX/timestamp", "/INDEX/flag", "/INDEX/origin"];
    for (const s of this.sources)
      for (const g of s.groups.values()) paths.push(`${g.indexPath}/first`, `${g.indexPath}/count`);
    return paths;
  }

  /**
   * Every per-train dataset of this aggregator, those with big chunks first (declaration order
   * otherwise); worked out once, since sources are only added before the first train.
   */
  private datasetsInWriteOrder(): readonly DatasetPlan[] {
    if (this.writeOrder) return this.writeOrder;
    const all: DatasetPlan[] = [];
    for (const s of this.sources) for (const g of s.groups.values()) all.push(...g.datasets.values());
    this.writeOrder = [...all.filter((d) => d.alignedChunks), ...all.filter((d) => !d.alignedChunks)];
    return this.writeOrder;
  }

  /**
   * HDF5 puts a flushed file's next new chunk at the end of the file, wherever its metadata and small
   * chunks left it (sase's data sat at 8 and 40 mod 64); the kernel copies a chunk from the page
   * cache ~25 % slower into a buffer not aligned as the chunk is in the file. So a file holding big
   * chunks has its end moved to the next 4 KiB (at most 4 KiB of unused space per flush that needed it:
   * usually the first, or one that allocated small chunks or index nodes).
   */
  private alignForChunks(h5: H5File): void {
    if (this.alignedChunks) h5.alignEnd(CHUNK_ALIGNMENT);
  }

  /** Writes a dataset's buffered rows through HDF5 (resized first). */
  private writeThroughHdf5(h5: H5File, d: DatasetPlan): void {
    const data = concat(d.dtype, d.pending, d.pendingRows * d.rowLen);
    h5.resize(d.path, d.rows + d.pendingRows, d.entryShape);
    h5.writeRows(d.path, d.entryShape, d.rows, d.pendingRows, data);
    d.rows += d.pendingRows;
    d.pending = [];
    d.pendingRows = 0;
  }

  close(): void {
    if (!this.file) return;
    this.flush(true);
    this.closeFile();
  }

  /** Closes the file, flushed already (close, or a flush with `closing` set). */
  closeFile(): void {
    if (!this.file) return;
    // INDEX was sized a chunk of trains at a time, datasets written directly a few trains ahead: the
    // file keeps only what was written.
    if (this.indexRows < this.indexCapacity)
      for (const path of this.indexPaths()) this.file.resize(path, this.indexRows, []);
    for (const d of this.datasetsInWriteOrder())
      if (d.capacity > d.rows) this.file.resize(d.path, d.rows, d.entryShape);
    this.file.close();
    this.file = null;
  }
}
