// Quieting the display libraries a WebGPU probe loads, for every command that probes.

/**
 * Probing for a WebGPU adapter makes the native display libraries log
 * "XDG_RUNTIME_DIR is invalid or not set" on stderr when that variable is
 * unset (headless machines, CI). Any absolute path quiets them; nothing is
 * created there. Only done when the variable may be set without a prompt.
 */
export function quietDisplayProbe(): void {
  const permission = Deno.permissions.querySync({ name: "env", variable: "XDG_RUNTIME_DIR" });
  if (permission.state !== "granted") return;
  if (!Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) Deno.env.set("XDG_RUNTIME_DIR", "/nonexistent");
}
