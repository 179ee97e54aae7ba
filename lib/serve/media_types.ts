/**
 * Content types for what an archive of camera media holds: picture and sound essence, camera
 * raw formats, image sequences, sidecars and the manifests that prove them. Camera raw formats
 * without a registered media type get a vendor type a player will not guess at.
 */

const TYPES: Record<string, string> = {
  mov: "video/quicktime",
  mp4: "video/mp4",
  m4v: "video/x-m4v",
  mxf: "application/mxf",
  mkv: "video/x-matroska",
  avi: "video/x-msvideo",
  mts: "video/mp2t",
  ts: "video/mp2t",
  m2ts: "video/mp2t",
  m4s: "video/iso.segment",
  m3u8: "application/vnd.apple.mpegurl",
  wav: "audio/wav",
  bwf: "audio/wav",
  aif: "audio/aiff",
  aiff: "audio/aiff",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  dpx: "image/x-dpx",
  exr: "image/x-exr",
  ari: "image/x-arri-raw",
  arx: "image/x-arri-raw",
  r3d: "video/x-red-r3d",
  braw: "video/x-blackmagic-raw",
  dng: "image/x-adobe-dng",
  crm: "video/x-canon-crm",
  tif: "image/tiff",
  tiff: "image/tiff",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  xml: "application/xml",
  mhl: "application/xml",
  ale: "text/plain; charset=utf-8",
  edl: "text/plain; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  json: "application/json",
  pdf: "application/pdf",
};

/** Extensions of what the portal treats as a clip (probed, previewed, played through a proxy). */
export const CLIP_EXTENSIONS: ReadonlySet<string> = new Set(["mov", "mp4", "m4v", "mxf", "mkv", "avi", "mts", "m2ts", "r3d", "braw", "ari", "crm", "dpx", "exr", "dng"]);

/** The lower-case extension of a path's last name, without the dot ("" when there is none). */
export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot <= 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/**
 * The `Content-Type` to send for a file.
 * @example
 * contentTypeOf("A001/CLIPS/A001C001.MOV"); // "video/quicktime"
 * contentTypeOf("notes"); // "application/octet-stream"
 */
export function contentTypeOf(path: string): string {
  return TYPES[extensionOf(path)] ?? "application/octet-stream";
}

/** Whether the portal treats the file as a clip. */
export function isClip(path: string): boolean {
  return CLIP_EXTENSIONS.has(extensionOf(path));
}
