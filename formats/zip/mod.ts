/**
 * Zip archives over random-access sources: read the table of contents without
 * touching member data, read members (stored or deflated, with a bound on
 * inflated size and a CRC check), and write archives with aligned members and
 * ZIP64 as PyTorch and numpy's `.npz` need.
 *
 * @example
 * ```ts
 * import { createZipWriter, openZip, readZipEntry } from "./mod.ts";
 * import { bytesSource } from "../../lib/byte_source.ts";
 * import { memorySink } from "../../lib/byte_sink.ts";
 *
 * const sink = memorySink();
 * const writer = createZipWriter(sink);
 * await writer.add("archive/version", new TextEncoder().encode("3\n"), { align: 64 });
 * await writer.finish();
 * await sink.close();
 *
 * const zip = await openZip(bytesSource(sink.bytes()));
 * const entry = zip.entry("archive/version")!;
 * console.log(entry.dataOffset % 64, new TextDecoder().decode(await readZipEntry(zip, entry)));
 * ```
 *
 * @module
 */

export * from "./open_zip.ts";
export * from "./read_zip_entry.ts";
export * from "./create_zip_writer.ts";
