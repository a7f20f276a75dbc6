// fflate, loaded on first use: importing an npm package starts Deno's Node
// compatibility layer (about 20 ms), which most runs (stored zip members, as
// torch.save writes them) never need.

type Fflate = typeof import("fflate");

let loaded: Promise<Fflate> | undefined;

/** The fflate module, imported once. */
export function loadFflate(): Promise<Fflate> {
  return loaded ??= import("fflate");
}
