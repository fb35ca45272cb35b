// gw's library API: the interface types, the reference handler and server, HeaderList, util,
// the validator, the app layer (application, HTTP errors, mount), the Node and Fetch adapters
// and the demo app. The CLI is not part of it.
export type * from "./types.ts";
export { UserError, ProtocolError, ValidationError } from "./errors.ts";
export { HeaderList, formatParam, type HeaderParams } from "./headers.ts";
export {
  guessScheme, requestUri, applicationUri, shiftPathInfo, setupTestingDefaults, isHopByHop,
  HOP_BY_HOP, FileWrapper, fileWrapper,
} from "./util.ts";
export { BodyInput, ErrorOutput, inputFromBytes, type TextSink } from "./input.ts";
export { environFromRequest, environFromCgi, decodePath, makeServerInfo, type ServerInfo } from "./environ.ts";
export { validator, type ValidatorOptions } from "./validate.ts";
export { BaseHandler, ERROR_STATUS, ERROR_BODY } from "./handlers.ts";
export { StreamHandler, CgiHandler, type StreamHandlerOptions, type CgiHandlerOptions } from "./stream-handler.ts";
export {
  application, isApplication, loadHook,
  type Application, type ApplicationOptions, type Handler, type HandlerClass, type HandlerFunction,
  type Processor, type Result, type UrlEntry,
} from "./router.ts";
export { ctx, header, data, input, type Context } from "./context.ts";
export { json, JsonBody } from "./responses.ts";
export {
  HttpError, Redirect, resolveLocation, errorApp, badRequest, unauthorized, forbidden, notFound, methodNotAllowed,
  notAcceptable, conflict, gone, preconditionFailed, unsupportedMediaType, internalError, redirect, found, seeOther,
  tempRedirect, type ErrorResponse,
} from "./http-errors.ts";
export { mount, compose, type Middleware, type Mounts } from "./mount.ts";
export { NodeHandler, toNodeListener, runHandler, type NodeListenerOptions, type NodeHandlerOptions } from "./adapters/node.ts";
export {
  toFetchHandler, fromFetchHandler, environFromFetch, FetchResponseHandler,
  type FetchHandler, type FetchLike, type FetchInfo, type FetchHandlerOptions,
} from "./adapters/fetch.ts";
export { staticApp, type StaticOptions } from "./static.ts";
export { cgiApp, cgiHttpApp, type CgiApp, type CgiOptions, type CgiHttpOptions } from "./cgi-runner.ts";
export { makeServer, HttpServer, type ServerOptions } from "./server.ts";
export { AccessLog, formatAccessLine, logDate, readyLine, escapeControl } from "./log.ts";
export { demoApp } from "./demo.ts";
export { VERSION, SERVER_SOFTWARE } from "./version.ts";
