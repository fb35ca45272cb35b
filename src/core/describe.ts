// The two ways every layer names a value in an error message, short and never the whole value:
// describe() says what kind of value it is ("the number 42"), show() quotes it ("42") where the
// message already says what kind was expected.

/** A short description of any value for an error message. */
export function describe(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `the string ${clip(JSON.stringify(value))}`;
    case "number":
    case "boolean":
      return `the ${typeof value} ${String(value)}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    case "undefined":
      return "undefined";
  }
  if (value === null) return "null";
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${value.byteLength} bytes`;
  if (Array.isArray(value)) {
    try {
      return `the array ${clip(JSON.stringify(value))}`;
    } catch {
      return `an array of length ${value.length}`;
    }
  }
  const name: unknown = Object.getPrototypeOf(value)?.constructor?.name;
  if (typeof name !== "string" || name === "Object" || name === "") return "an object";
  return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
}

/** The value itself, shortened: a string or array as JSON, an object by its class ("a FancyEnviron"). */
export function show(value: unknown): string {
  if (typeof value === "string") return clip(JSON.stringify(value));
  if (typeof value === "function") return "a function";
  if (typeof value !== "object" || value === null) return String(value);
  if (value instanceof Uint8Array) return `a Uint8Array of ${value.byteLength} bytes`;
  if (Array.isArray(value)) {
    try {
      return clip(JSON.stringify(value));
    } catch {
      return `an array of length ${value.length}`;
    }
  }
  const name: unknown = Object.getPrototypeOf(value)?.constructor?.name;
  return typeof name === "string" && name !== "Object" ? `a ${name}` : "an object";
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
