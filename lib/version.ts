/**
 * ckpt's version, read from its deno.json (the one place it is written).
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };

/**
 * The package version, e.g. `0.1.0`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./version.ts";
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION: string = config.version;
