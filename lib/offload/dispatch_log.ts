/**
 * dispatchcopy's words: Offload Manager's `pfndispatchcopy` log lines (with `-v`), hash labels
 * as it prints them, JSON events for other programs, and the summary.
 */
import type { Algorithm } from "../hash/algorithms.ts";
import { resolveAlgorithm } from "../hash/algorithms.ts";
import { usageError } from "../core/errors.ts";
import { showName } from "../core/names.ts";
import type { LineSink } from "../core/sink.ts";
import { GOOD_STATUSES, type DestinationOutcome } from "./copy.ts";

/** Where dispatchcopy's words go: data and errors, `-v` INFO lines, `--json` events. */
export interface LogSink {
  out: LineSink;
  info: (line: string) => void;
  event: (e: Record<string, unknown>) => void;
}

/** A hash as asked for with `-t`: the algorithm and how Offload Manager prints it. */
export interface HashChoice {
  algorithm: Algorithm;
  /** `XXH64BE`, `XXH64`, `MD5`… */
  label: string;
  /** Printed little-endian (Offload Manager's `xxh64`, as MHL v1.1's `xxhash64`). */
  littleEndian: boolean;
}

/**
 * Resolves a `-t` value. `xxh64be` is XXH64 big-endian (as xxhsum prints it); `xxh64` is XXH64
 * little-endian, as Offload Manager and MHL v1.1's `xxhash64` write it.
 */
export function hashChoice(name: string): HashChoice {
  const lower = name.trim().toLowerCase();
  if (lower === "xxh64") return { algorithm: "xxh64", label: "XXH64", littleEndian: true };
  if (lower === "xxh64be") return { algorithm: "xxh64", label: "XXH64BE", littleEndian: false };
  const algorithm = resolveAlgorithm(lower);
  if (algorithm === "crc32" || algorithm === "xxh32" || algorithm === "sha512") {
    throw usageError(`-t ${name}: use one of xxh64be, xxh64, xxh3, xxh128, md5, sha1, sha256, blake3, c4`);
  }
  return { algorithm, label: algorithm.toUpperCase(), littleEndian: false };
}

/** `XXH64BE:a607a84d34b1350a`, as in Offload Manager's `hash` line. */
export function hashLabel(choice: HashChoice, canonicalHex: string): string {
  const hex = choice.littleEndian ? Buffer.from(canonicalHex, "hex").reverse().toString("hex") : canonicalHex;
  return `${choice.label}:${hex}`;
}

/** `copy speed 6792544938 bytes in 8.79026 sec (772.7 MB/sec)`. */
export function speedLine(bytes: number, seconds: number): string {
  const rate = seconds > 0 ? bytes / seconds / 1e6 : 0;
  return `copy speed ${bytes} bytes in ${seconds.toFixed(5)} sec (${rate.toFixed(1)} MB/sec)`;
}

/** 1 when a copy read back differently, 2 when one failed otherwise, else 0. */
export function exitCodeOf(outcomes: DestinationOutcome[]): number {
  if (outcomes.some((d) => d.status === "mismatch")) return 1;
  if (outcomes.some((d) => !GOOD_STATUSES.has(d.status))) return 2;
  return 0;
}

/**
 * One line per destination: verified (how), present, or what went wrong. `advice` adds what the
 * user can do to a failure (the tool knows its flags; the library does not).
 */
export function reportDestinations(tool: string, destinations: DestinationOutcome[], choices: HashChoice[], hexes: ReadonlyMap<string, string>, sink: LogSink, source: string, advice: (d: DestinationOutcome) => string | undefined = () => undefined): void {
  const { out, info, event } = sink;
  for (const d of destinations) {
    const labels = choices.map((c) => hashLabel(c, (d.hexes ?? hexes).get(c.algorithm) ?? "")).join(" ");
    switch (d.status) {
      case "verified":
        info(`verified ${showName(d.path)}: ${labels}, read back from the device${d.coldRead === false ? " (the page cache could not be dropped: the read may have come from memory)" : ""}`);
        event({ event: "verified", source, destination: d.path, hashes: labels, cold: d.coldRead ?? null });
        break;
      case "present":
        info(`already present ${showName(d.path)}: identical file (${labels}), not copied again`);
        event({ event: "verified", source, destination: d.path, hashes: labels, present: true });
        break;
      case "continued":
        info(`history continued ${showName(d.path)}: ${d.reason ?? ""}`);
        event({ event: "file-done", source, destination: d.path, status: d.status, reason: d.reason ?? null });
        break;
      case "size-checked":
      case "copied":
        info(`${d.status === "copied" ? "copied (not verified)" : "size checked"} ${showName(d.path)}`);
        event({ event: "file-done", source, destination: d.path, status: d.status });
        break;
      default:
        out.error(`${tool}: ${showName(d.path)}: ${d.status === "mismatch" ? "VERIFICATION FAILED" : "failed"}: ${d.reason ?? "unknown error"}${advice(d) ?? ""}`);
        event({ event: "error", source, destination: d.path, status: d.status, error: d.reason ?? null });
    }
  }
}
