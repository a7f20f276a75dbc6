// A TensorFile over an open HDF5 file and the Keras variables found in it.

import type { TensorEntry, TensorFile } from "../../lib/tensor.ts";
import type { Hdf5File } from "./_hdf5.ts";
import type { KerasVariable } from "./_layout.ts";

export function kerasTensorFile(
  format: string,
  file: Hdf5File,
  variables: readonly KerasVariable[],
  metadata: Record<string, string>,
  fileBytes: number,
  release: () => Promise<void>,
): TensorFile {
  // Every dataset's type and size is checked before the file is handed out.
  const tensors: TensorEntry[] = variables.map((variable) => {
    const info = file.dataset(variable.path, variable.name);
    return {
      name: variable.name,
      dtype: info.dtype,
      shape: [...info.shape],
      byteLength: info.byteLength,
      read(out?: Uint8Array): Promise<Uint8Array> {
        try {
          return Promise.resolve(file.read(info, variable.name, out));
        } catch (error) {
          return Promise.reject(error);
        }
      },
    };
  });
  let closed = false;
  return {
    format,
    metadata,
    tensors,
    fileBytes,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        file.close();
      } finally {
        await release();
      }
    },
  };
}
