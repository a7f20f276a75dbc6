// External data paths: where a model's data files are, and checks that they stay inside its folder.

import { FormatError } from "../../lib/errors.ts";

export function folderOf(name: string): string | undefined {
  if (name.startsWith("<")) return undefined;
  const slash = name.lastIndexOf("/");
  if (/^https?:\/\//i.test(name)) return name.slice(0, slash + 1);
  return slash < 0 ? "." : slash === 0 ? "/" : name.slice(0, slash);
}

/**
 * Resolve an external data location against the model's folder, refusing
 * absolute paths and `..` segments so a model cannot read files outside it.
 */
export function resolveExternalPath(baseDir: string, location: string, tensor: string): string {
  const parts = location.split(/[\\/]/);
  if (
    location === "" || location.startsWith("/") || /^[a-zA-Z]:/.test(location) || location.includes("\0") ||
    parts.includes("..") || /^[a-z]+:\/\//i.test(location)
  ) {
    throw new FormatError(
      `Refusing external data location '${location}' of initializer '${tensor}': it must be a relative path inside the model's folder`,
      { format: "onnx" },
    );
  }
  const clean = parts.filter((p) => p !== "" && p !== ".").join("/");
  if (/^https?:\/\//i.test(baseDir)) return new URL(clean, baseDir).href;
  return baseDir.endsWith("/") ? `${baseDir}${clean}` : `${baseDir}/${clean}`;
}

export async function insideFolder(baseDir: string, path: string, tensor: string): Promise<void> {
  // A symlink inside the folder could still point outside it.
  const [root, real] = await Promise.all([Deno.realPath(baseDir), Deno.realPath(path)]);
  if (!real.startsWith(root.endsWith("/") ? root : `${root}/`)) {
    throw new FormatError(
      `Refusing external data file ${path} of initializer '${tensor}': it resolves outside the model's folder`,
      { format: "onnx" },
    );
  }
}
