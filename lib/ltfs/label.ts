/**
 * The LTFS label construct that starts both partitions of a volume: an 80-byte ANSI VOL1 record
 * naming the volume (its barcode) and the implementation `LTFS`, a file mark, the `ltfslabel`
 * XML record (volume UUID, format time, which partition holds indexes and which data, block
 * size), and a file mark. Both partitions carry the same label except for `<location>`.
 */
import { childElement, parseXml, textOf, XmlError, XmlWriter } from "../xml/xml.ts";
import { LTFS_INDEX_VERSION } from "./index_model.ts";
import { parseLtfsTime } from "./index_xml.ts";

/** Bytes in a VOL1 label record. */
export const VOL1_LENGTH = 80;

/** What a volume's labels say. */
export interface LtfsLabel {
  /** Volume serial (barcode without the media suffix): up to 6 characters of A–Z, 0–9. */
  serial: string;
  /** Free text naming the program that formatted the volume. */
  creator: string;
  /** The format time, in the index time form. */
  formatTime: string;
  volumeUuid: string;
  /** Partition letters: `a` holds indexes, `b` data. */
  indexPartition: string;
  dataPartition: string;
  blockSize: number;
  compression: boolean;
}

/** Serials the VOL1 record can hold: 1–6 of A–Z and 0–9 (ANSI "a-characters" used for barcodes). */
export const SERIAL_PATTERN = /^[A-Z0-9]{1,6}$/;

/**
 * The VOL1 record: `VOL1`, the serial padded to 6, accessibility `L` (only LTFS may read it),
 * 13 spaces, the implementation identifier `LTFS` padded to 13, owner and reserved fields of
 * spaces, and label standard version `4`.
 * @example
 * new TextDecoder().decode(vol1Record("CK0001")).slice(0, 11); // "VOL1CK0001L"
 */
export function vol1Record(serial: string): Uint8Array {
  if (!SERIAL_PATTERN.test(serial)) throw new Error(`vol1Record: serial '${serial}' is not 1-6 of A-Z, 0-9`);
  const text = `VOL1${serial.padEnd(6)}L${" ".repeat(13)}${"LTFS".padEnd(13)}${" ".repeat(14)}${" ".repeat(28)}4`;
  return new TextEncoder().encode(text);
}

/**
 * Reads a VOL1 record; `undefined` unless it is an 80-byte VOL1 label of an LTFS volume.
 * @returns the serial, trailing spaces removed.
 */
export function readVol1(record: Uint8Array): string | undefined {
  if (record.length !== VOL1_LENGTH) return undefined;
  const text = new TextDecoder("latin1").decode(record);
  if (!text.startsWith("VOL1") || text[10] !== "L" || text.slice(24, 37).trimEnd() !== "LTFS") return undefined;
  return text.slice(4, 10).trimEnd();
}

/**
 * The `ltfslabel` document written on the partition `location`.
 * @example
 * declare const label: Parameters<typeof writeLabelXml>[0];
 * writeLabelXml(label, "a"); // <ltfslabel version="2.4.0"> … <location><partition>a</partition></location> …
 */
export function writeLabelXml(label: LtfsLabel, location: string): string {
  const w = new XmlWriter();
  w.open("ltfslabel", { version: LTFS_INDEX_VERSION });
  w.leaf("creator", {}, label.creator);
  w.leaf("formattime", {}, label.formatTime);
  w.leaf("volumeuuid", {}, label.volumeUuid);
  w.open("location").leaf("partition", {}, location).close();
  w.open("partitions").leaf("index", {}, label.indexPartition).leaf("data", {}, label.dataPartition).close();
  w.leaf("blocksize", {}, String(label.blockSize));
  w.leaf("compression", {}, String(label.compression));
  w.close();
  return w.toString();
}

/**
 * Reads an `ltfslabel` document.
 * @throws {XmlError} naming `file` when it is not a label or a field is missing or malformed.
 */
export function readLabelXml(text: string, file: string, serial = ""): LtfsLabel & { location: string } {
  const root = parseXml(text, file);
  if (root.localName !== "ltfslabel") throw new XmlError(file, root.line, `the root element is <${root.name}>, not <ltfslabel>`);
  const field = (parent: typeof root, name: string) => {
    const element = childElement(parent, name);
    if (!element) throw new XmlError(file, parent.line, `<${parent.name}> has no <${name}>`);
    return element;
  };
  const formatTime = parseLtfsTime(textOf(field(root, "formattime")).trim());
  if (formatTime === undefined) throw new XmlError(file, field(root, "formattime").line, "<formattime> is not a time");
  const blockSize = Number(textOf(field(root, "blocksize")).trim());
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) throw new XmlError(file, field(root, "blocksize").line, "<blocksize> is not a positive integer");
  const partitions = field(root, "partitions");
  return {
    serial,
    creator: textOf(field(root, "creator")),
    formatTime,
    volumeUuid: textOf(field(root, "volumeuuid")).trim().toLowerCase(),
    location: textOf(field(field(root, "location"), "partition")).trim(),
    indexPartition: textOf(field(partitions, "index")).trim(),
    dataPartition: textOf(field(partitions, "data")).trim(),
    blockSize,
    compression: textOf(childElement(root, "compression")).trim() === "true",
  };
}
