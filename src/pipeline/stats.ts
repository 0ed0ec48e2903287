// Rates over a sliding window, for the health figures every channel exposes (tokens/s, bytes/s).

/** Counts events and bytes and reports their rate over roughly the last second. */
export class RateMeter {
  count = 0;
  bytes = 0;
  private readonly samples: { t: number; count: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 1000) {}

  /** Records one event of `bytes` bytes. */
  add(bytes: number): void {
    this.count++;
    this.bytes += bytes;
  }

  /** Takes a sample (call periodically) and returns the rates over the window. */
  sample(now = performance.now()): { rate: number; throughput: number } {
    this.samples.push({ t: now, count: this.count, bytes: this.bytes });
    while (this.samples.length > 2 && now - this.samples[1].t >= this.windowMs) this.samples.shift();
    const first = this.samples[0];
    const dt = (now - first.t) / 1000;
    if (dt <= 0) return { rate: 0, throughput: 0 };
    return { rate: (this.count - first.count) / dt, throughput: (this.bytes - first.bytes) / dt };
  }
}

/** The alarm level a channel reports, Karabo's `alarmCondition` values. */
export type AlarmLevel = "none" | "warn" | "alarm";
