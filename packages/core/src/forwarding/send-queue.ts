/**
 * A bounded FIFO of encoded remote-write batches. Memory is bounded by a number of samples: when
 * a new batch would exceed it, the oldest batches are dropped (newest data is worth more to a
 * dashboard than old data that could not be delivered) and the caller counts the drop. The batch
 * being sent is never dropped under the sender's feet, so at most `maxPendingSamples` plus one
 * batch are held.
 */
export interface Batch {
  body: Buffer;
  samples: number;
}

export class SendQueue {
  private readonly batches: Batch[] = [];
  private pending = 0;
  private inFlight: Batch | undefined;

  constructor(private readonly maxPendingSamples: number) {}

  get pendingSamples(): number {
    return this.pending;
  }

  get length(): number {
    return this.batches.length;
  }

  /** Appends a batch; returns how many samples were dropped to make room (possibly its own). */
  push(batch: Batch): number {
    let dropped = 0;
    if (batch.samples > this.maxPendingSamples) return batch.samples;
    while (this.pending + batch.samples > this.maxPendingSamples) {
      const index = this.batches[0] === this.inFlight ? 1 : 0;
      const victim = this.batches[index];
      if (!victim) break;
      this.batches.splice(index, 1);
      this.pending -= victim.samples;
      dropped += victim.samples;
    }
    this.batches.push(batch);
    this.pending += batch.samples;
    return dropped;
  }

  /** The oldest batch, marked as being sent; undefined when empty. */
  take(): Batch | undefined {
    this.inFlight = this.batches[0];
    return this.inFlight;
  }

  /** The batch from `take` stays queued but is no longer being sent (waiting to retry). */
  release(batch: Batch): void {
    if (this.inFlight === batch) this.inFlight = undefined;
  }

  /** The batch from `take` is done with (delivered, or refused for good). */
  done(batch: Batch): void {
    if (this.inFlight === batch) this.inFlight = undefined;
    const index = this.batches.indexOf(batch);
    if (index >= 0) {
      this.batches.splice(index, 1);
      this.pending -= batch.samples;
    }
  }

  /** Empties the queue; returns the samples that were pending. */
  clear(): number {
    const dropped = this.pending;
    this.batches.length = 0;
    this.pending = 0;
    this.inFlight = undefined;
    return dropped;
  }
}
