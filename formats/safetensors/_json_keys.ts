// A small scanner over JSON text that lists the keys of the top-level object
// and of one nested object, in order. JSON.parse silently keeps the last of
// duplicate keys; safetensors must refuse such headers, so we look ourselves.
// The text has already been accepted by JSON.parse, so the scanner may assume
// well-formed JSON.

/** Keys of the top-level object, and of the object under `nestedKey`. */
export interface JsonKeys {
  top: string[];
  nested: string[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Scan valid JSON `text` whose top level is an object. */
export function scanJsonKeys(text: string, nestedKey: string): JsonKeys {
  const top: string[] = [];
  const nested: string[] = [];
  // One entry per open container: true for objects, false for arrays.
  const isObject: boolean[] = [];
  let expectKey = false;
  let lastTopKey = "";
  let inNested = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      let escaped = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i += 2;
        } else if (d === QUOTE) break;
        else i++;
      }
      if (expectKey) {
        expectKey = false;
        // Only keys with escapes need decoding.
        const key = escaped ? JSON.parse(text.slice(start, i + 1)) as string : text.slice(start + 1, i);
        if (isObject.length === 1) {
          top.push(key);
          lastTopKey = key;
        } else if (inNested && isObject.length === 2) {
          nested.push(key);
        }
      }
    } else if (c === 0x7b /* { */) {
      isObject.push(true);
      expectKey = true;
      inNested = isObject.length === 2 && lastTopKey === nestedKey;
    } else if (c === 0x5b /* [ */) {
      isObject.push(false);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      isObject.pop();
      if (isObject.length < 2) inNested = false;
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = isObject[isObject.length - 1] === true;
    }
  }
  return { top, nested };
}
