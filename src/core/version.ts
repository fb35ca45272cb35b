// gw's version, for the Server header and SERVER_SOFTWARE (a test keeps it equal to package.json),
// and the interface version every environ carries as gw.version.

/** The gw release this code is. */
export const VERSION = "0.1.0";

/** The Server header and SERVER_SOFTWARE value, like wsgiref's "WSGIServer/0.2 CPython/3.x". */
export const SERVER_SOFTWARE: string = `gw/${VERSION} node/${process.versions.node}`;

/** gw.version, frozen and shared by every environ. */
export const GW_VERSION: readonly [1, 0] = Object.freeze([1, 0] as const);
