/**
 * The chain file `ascmhl/ascmhl_chain.xml` (`urn:ASC:MHL:DIRECTORY:v2.0`): one `<hashlist>` per
 * generation with its sequence number, file name and the C4 ID of the file's bytes. A generation
 * whose C4 no longer matches has been modified after it was written.
 */
import { childElement, childElements, parseXml, textOf, XmlError, XmlWriter } from "../xml/xml.ts";
import { unsafePathReason } from "./paths.ts";
import { HISTORY_MOST_ELEMENTS } from "./generation.ts";

/** Namespace of the chain file. */
export const CHAIN_NAMESPACE = "urn:ASC:MHL:DIRECTORY:v2.0";

/** File name of the chain inside `ascmhl/`. */
export const CHAIN_FILE_NAME = "ascmhl_chain.xml";

/** One generation listed in the chain. */
export interface ChainLink {
  sequenceNumber: number;
  /** File name of the generation inside `ascmhl/`. */
  fileName: string;
  /** C4 ID of the generation file. */
  c4: string;
  line?: number;
}

/**
 * Parses a chain file.
 * @throws {XmlError} for malformed XML, a wrong root, a bad sequence number or a file name with a folder.
 */
export function readChain(text: string, file: string): ChainLink[] {
  const root = parseXml(text, file, { maxElements: HISTORY_MOST_ELEMENTS });
  if (root.localName !== "ascmhldirectory") throw new XmlError(file, root.line, `expected <ascmhldirectory>, found <${root.name}>`);
  return childElements(root, "hashlist").map((element) => {
    const sequence = element.attributes.get("sequencenr") ?? "";
    if (!/^\d+$/.test(sequence)) throw new XmlError(file, element.line, `invalid sequencenr '${sequence}'`);
    const pathElement = childElement(element, "path");
    const fileName = textOf(pathElement);
    const reason = unsafePathReason(fileName) ?? (fileName.includes("/") ? `path '${fileName}' is not a file name in ascmhl/` : undefined);
    if (reason) throw new XmlError(file, pathElement?.line ?? element.line, `refusing ${reason}`);
    const c4 = childElement(element, "c4");
    if (!c4) throw new XmlError(file, element.line, "<hashlist> without <c4> (only C4 chains are supported)");
    return { sequenceNumber: Number(sequence), fileName, c4: textOf(c4).trim(), line: element.line };
  });
}

/** Serialises a chain as the reference writes it. */
export function writeChain(links: readonly ChainLink[]): string {
  const w = new XmlWriter();
  w.open("ascmhldirectory", { xmlns: CHAIN_NAMESPACE });
  for (const link of links) {
    w.open("hashlist", { sequencenr: String(link.sequenceNumber) });
    w.leaf("path", {}, link.fileName);
    w.leaf("c4", {}, link.c4);
    w.close();
  }
  w.close();
  return w.toString();
}
