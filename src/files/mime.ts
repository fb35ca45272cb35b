// Content types by file extension, with a charset on text (Python's mimetypes.guess_type and
// SimpleHTTPRequestHandler.guess_type, trimmed to what a dev server meets).

/** The type of a file whose extension is unknown, as http.server sends it. */
export const DEFAULT_TYPE = "application/octet-stream";

// Types that are text get "; charset=utf-8", so browsers do not guess the encoding.
const TEXT = "; charset=utf-8";

const TYPES: ReadonlyMap<string, string> = new Map([
  // Text and the web platform.
  [".html", "text/html" + TEXT], [".htm", "text/html" + TEXT], [".xhtml", "application/xhtml+xml" + TEXT],
  [".css", "text/css" + TEXT], [".js", "text/javascript" + TEXT], [".mjs", "text/javascript" + TEXT],
  [".cjs", "text/javascript" + TEXT], [".json", "application/json" + TEXT], [".map", "application/json" + TEXT],
  [".webmanifest", "application/manifest+json" + TEXT], [".xml", "application/xml" + TEXT],
  [".txt", "text/plain" + TEXT], [".text", "text/plain" + TEXT], [".log", "text/plain" + TEXT],
  [".md", "text/markdown" + TEXT], [".csv", "text/csv" + TEXT], [".tsv", "text/tab-separated-values" + TEXT],
  [".ics", "text/calendar" + TEXT], [".vtt", "text/vtt" + TEXT], [".yaml", "application/yaml" + TEXT],
  [".yml", "application/yaml" + TEXT], [".toml", "application/toml" + TEXT],
  // Source files a dev server shows as text rather than offering them as downloads.
  [".ts", "text/plain" + TEXT], [".mts", "text/plain" + TEXT], [".cts", "text/plain" + TEXT],
  [".tsx", "text/plain" + TEXT], [".jsx", "text/plain" + TEXT], [".py", "text/x-python" + TEXT],
  [".sh", "text/x-sh" + TEXT], [".c", "text/plain" + TEXT], [".h", "text/plain" + TEXT],
  // Images and fonts.
  [".svg", "image/svg+xml" + TEXT], [".png", "image/png"], [".jpg", "image/jpeg"], [".jpeg", "image/jpeg"],
  [".gif", "image/gif"], [".webp", "image/webp"], [".avif", "image/avif"], [".ico", "image/vnd.microsoft.icon"],
  [".bmp", "image/bmp"], [".tif", "image/tiff"], [".tiff", "image/tiff"],
  [".woff", "font/woff"], [".woff2", "font/woff2"], [".ttf", "font/ttf"], [".otf", "font/otf"],
  // Audio and video.
  [".mp3", "audio/mpeg"], [".ogg", "audio/ogg"], [".oga", "audio/ogg"], [".wav", "audio/wav"],
  [".flac", "audio/flac"], [".m4a", "audio/mp4"], [".mp4", "video/mp4"], [".webm", "video/webm"],
  [".ogv", "video/ogg"], [".mov", "video/quicktime"],
  // Documents, archives and binaries (the compressed ones as http.server's extensions_map has them).
  [".pdf", "application/pdf"], [".wasm", "application/wasm"], [".zip", "application/zip"],
  [".gz", "application/gzip"], [".tgz", "application/gzip"], [".bz2", "application/x-bzip2"],
  [".xz", "application/x-xz"], [".Z", "application/octet-stream"], [".tar", "application/x-tar"],
  [".7z", "application/x-7z-compressed"],
]);

/**
 * The Content-Type for a file name, from its extension: an exact match first, then the
 * lower-cased one (as http.server does), else application/octet-stream.
 */
export function guessType(name: string): string {
  const slash = name.lastIndexOf("/");
  const dot = name.lastIndexOf(".");
  // posixpath.splitext: a leading dot ("/.bashrc") starts a name, not an extension.
  if (dot <= slash + 1) return DEFAULT_TYPE;
  const extension = name.slice(dot);
  return TYPES.get(extension) ?? TYPES.get(extension.toLowerCase()) ?? DEFAULT_TYPE;
}
