/**
 * The ASC MHL v2.0 model: one generation file (a `<hashlist>`), its entries and the history
 * metadata around them. Paths are relative to the history's root and `/`-separated.
 */
import type { HashFormat } from "./formats.ts";

/** What a generation did with a hash: first seen, re-hashed and equal, re-hashed and different. */
export type HashAction = "original" | "verified" | "failed";

/** One hash of a file (or the content and structure hash of a folder) in one format. */
export interface HashEntry {
  format: HashFormat;
  /** Printed digest (hex, or the C4 ID). For a folder: its content hash. */
  value: string;
  /** For a folder: its structure hash. */
  structure?: string;
  action?: HashAction;
  /** ISO 8601 date as written. */
  hashDate?: string;
}

/** A `<hash>` (file) or `<directoryhash>` (folder) element. */
export interface MediaHash {
  path: string;
  isDirectory: boolean;
  size?: number;
  /** ISO 8601 date as written. */
  lastModified?: string;
  entries: HashEntry[];
  /** The path this entry had before a rename. */
  previousPath?: string;
  /** Line in the file it was read from, for messages. */
  line?: number;
}

/** An `<author>` of a generation. */
export interface Author {
  name?: string;
  email?: string;
  phone?: string;
  role?: string;
}

/** `<creatorinfo>`: who made the generation, where and when. */
export interface CreatorInfo {
  creationDate: string;
  hostname: string;
  tool: { name: string; version?: string };
  authors: Author[];
  location?: string;
  comment?: string;
}

/** `<processinfo>`: what kind of process, the root hashes and the ignore patterns. */
export interface ProcessInfo {
  process: "in-place" | "transfer" | "flatten";
  /** Content and structure hashes of the root folder, one entry per format. */
  rootHash: HashEntry[];
  ignorePatterns: string[];
}

/** A `<hashlistreference>` to a generation of a nested history. */
export interface HashListReference {
  /** Path of the referenced generation file, relative to this history's root. */
  path: string;
  c4: string;
}

/** One generation: the content of one `.mhl` file. */
export interface Generation {
  creatorInfo: CreatorInfo;
  processInfo: ProcessInfo;
  hashes: MediaHash[];
  references: HashListReference[];
}
