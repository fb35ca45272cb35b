// gw's library API, and only it: the interface types, the reference handlers and server,
// HeaderList, util, the validator, the app layer (application, HTTP errors, mount, templates), the Node and
// Fetch adapters, the file server, the CGI runner and the demo app. Neither the CLI nor internals.
export type * from "./core/types.ts";
export { UserError, ProtocolError, ValidationError } from "./core/errors.ts";
export { HeaderList, formatParam, type HeaderParams } from "./core/headers.ts";
export {
  guessScheme, requestUri, applicationUri, shiftPathInfo, setupTestingDefaults, FileWrapper, fileWrapper,
} from "./core/util.ts";
export { isHopByHop, HOP_BY_HOP } from "./core/http-syntax.ts";
export { BodyInput, ErrorOutput, inputFromBytes, type TextSink } from "./core/input.ts";
export { validator, type ValidatorOptions } from "./core/validate.ts";
export { VERSION, SERVER_SOFTWARE } from "./core/version.ts";
export { BaseHandler, ERROR_STATUS, ERROR_BODY } from "./gateway/base-handler.ts";
export { StreamHandler, type StreamHandlerOptions } from "./gateway/stream-handler.ts";
export { CgiHandler, type CgiHandlerOptions } from "./gateway/cgi-handler.ts";
export { NodeHandler, toNodeListener, type NodeListenerOptions, type NodeHandlerOptions } from "./adapters/node.ts";
export { toFetchHandler, type FetchHandler, type FetchInfo, type FetchHandlerOptions, type FetchLike } from "./adapters/to-fetch.ts";
export { fromFetchHandler } from "./adapters/from-fetch.ts";
export { fromNodeListener, type NodeListener } from "./adapters/from-node.ts";
export { makeServer, HttpServer, type ServerOptions } from "./server/http.ts";
export { serveFastCgi, FastCgiServer, type FastCgiOptions } from "./server/fastcgi.ts";
export { serveScgi, ScgiServer, type ScgiOptions } from "./server/scgi.ts";
export { bindListener, type ListenTarget } from "./server/listen.ts";
export { run, type RunOptions, type RunMode } from "./server/run.ts";
export {
  application, isApplication, loadHook,
  type Application, type ApplicationOptions, type Handler, type HandlerClass, type HandlerFunction,
  type Processor, type Result, type UrlEntry,
} from "./app/router.ts";
export { ctx, header, data, input, type Context } from "./app/context.ts";
export { json, JsonBody } from "./app/results.ts";
export { html, raw, each, safeUrl, Html, type HtmlValue, type Loop, type Layout, type PageVars } from "./app/template.ts";
export {
  HttpError, Redirect, resolveLocation, errorApp, badRequest, unauthorized, forbidden, notFound, methodNotAllowed,
  notAcceptable, conflict, gone, preconditionFailed, unsupportedMediaType, internalError, redirect, found, seeOther,
  tempRedirect, type ErrorResponse,
} from "./app/http-errors.ts";
export { mount, compose, type Middleware, type Mounts } from "./app/mount.ts";
export { demoApp } from "./app/demo.ts";
export { staticApp, type StaticOptions } from "./files/static.ts";
export { cgiApp, cgiHttpApp, type CgiApp, type CgiOptions, type CgiHttpOptions } from "./cgi/runner.ts";
