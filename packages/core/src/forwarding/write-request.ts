/**
 * Prometheus remote-write 1.0 payloads: a `prometheus.WriteRequest` protobuf, snappy-compressed
 * (block format, not framed), as https://prometheus.io/docs/concepts/remote_write_spec/ defines.
 *
 * Why these libraries: protobufjs (its `light` build: no .proto parser at run time) is the most
 * used protobuf runtime for JavaScript, and a four-message schema declared inline needs no code
 * generation step. snappyjs is pure JavaScript, so the agent keeps no native dependency besides
 * libbpf (npm would not run a native package's install script without `allowScripts`, and the
 * payloads are small: the speed of a native snappy buys nothing here).
 */
import protobuf from "protobufjs/light.js";
import snappy from "snappyjs";

/** One series: its labels (`__name__` included) and its samples in timestamp order. */
export interface TimeSeries {
  labels: Record<string, string>;
  samples: { value: number; timestampMs: number }[];
}

// From prometheus/prompb/{remote,types}.proto; field numbers are the wire contract. Only what
// remote-write 1.0 requires: metadata (field 3) and exemplars/histograms are optional and unused.
const root = protobuf.Root.fromJSON({
  nested: {
    prometheus: {
      nested: {
        WriteRequest: { fields: { timeseries: { rule: "repeated", type: "TimeSeries", id: 1 } } },
        TimeSeries: {
          fields: {
            labels: { rule: "repeated", type: "Label", id: 1 },
            samples: { rule: "repeated", type: "Sample", id: 2 },
          },
        },
        Label: { fields: { name: { type: "string", id: 1 }, value: { type: "string", id: 2 } } },
        Sample: { fields: { value: { type: "double", id: 1 }, timestamp: { type: "int64", id: 2 } } },
      },
    },
  },
});
const WriteRequest = root.lookupType("prometheus.WriteRequest");

interface WireSeries {
  labels: { name: string; value: string }[];
  samples: { value: number; timestamp: number }[];
}

/** The request headers remote-write 1.0 requires. */
export const REMOTE_WRITE_HEADERS = {
  "Content-Encoding": "snappy",
  "Content-Type": "application/x-protobuf",
  "X-Prometheus-Remote-Write-Version": "0.1.0",
} as const;

/** Encodes and compresses a WriteRequest. Labels are sorted by name, as the spec requires. */
export function encodeWriteRequest(series: readonly TimeSeries[]): Buffer {
  const timeseries: WireSeries[] = series.map((s) => ({
    labels: Object.keys(s.labels)
      .sort()
      .map((name) => ({ name, value: s.labels[name]! })),
    samples: s.samples.map((sample) => ({ value: sample.value, timestamp: sample.timestampMs })),
  }));
  const bytes = WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish();
  return Buffer.from(snappy.compress(bytes));
}

/** The inverse of {@link encodeWriteRequest} (tests and debugging). */
export function decodeWriteRequest(body: Uint8Array): TimeSeries[] {
  const message = WriteRequest.decode(snappy.uncompress(body));
  const plain = WriteRequest.toObject(message, { longs: Number, defaults: true }) as { timeseries: WireSeries[] };
  return plain.timeseries.map((s) => ({
    labels: Object.fromEntries(s.labels.map((l) => [l.name, l.value])),
    samples: s.samples.map((sample) => ({ value: sample.value, timestampMs: sample.timestamp })),
  }));
}
