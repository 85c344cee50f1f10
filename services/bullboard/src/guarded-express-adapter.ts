import { Router, type NextFunction, type Request, type Response } from "express";
import { ExpressAdapter } from "@bull-board/express";
import { CodedError } from "@patchmon-ws/protocol";
import { isRedisConnectionError, redisUnavailable } from "./redis-errors.js";

type RouteMethod = "get" | "post" | "put" | "patch" | "delete";
/** Types taken from the adapter itself: @bull-board/express may carry its own copy of @bull-board/api. */
type ApiRoute = Parameters<ExpressAdapter["setApiRoutes"]>[0][number];
type RouteRequest = NonNullable<Parameters<ApiRoute["handler"]>[0]>;

/**
 * Bull Board's Express adapter with its API routes wired our way: before a handler runs, a gate refuses the call
 * while Redis is down (so no request waits on a dead connection), and whatever a handler throws becomes a
 * CodedError for the service's error handler — Redis failures 503 with Retry-After, anything else 500 without
 * leaking its message. Bull Board's own answers (404 queue not found, 400 job not retriable …) pass unchanged, as
 * its UI reads them.
 */
export class GuardedExpressAdapter extends ExpressAdapter {
  constructor(private readonly gate: () => void) {
    super();
    this.app.disable("x-powered-by");
  }

  override setApiRoutes(routes: ApiRoute[]): ExpressAdapter {
    if (!this.bullBoardQueues) throw new Error("setQueues must be called before setApiRoutes");
    const queues = this.bullBoardQueues;
    const router = Router();
    for (const route of routes) {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]) as RouteMethod[];
      for (const method of methods) {
        router[method](route.route, (req: Request, res: Response, next: NextFunction) => {
          void this.handle(route, queues, req, res).catch(next);
        });
      }
    }
    this.app.use(router);
    return this as ExpressAdapter;
  }

  private async handle(route: ApiRoute, queues: RouteRequest["queues"], req: Request, res: Response): Promise<void> {
    this.gate();
    let response;
    try {
      response = await route.handler({
        queues,
        uiConfig: this.uiConfig,
        query: req.query as RouteRequest["query"],
        params: req.params,
        body: (req.body ?? {}) as RouteRequest["body"],
        headers: req.headers as RouteRequest["headers"],
      });
    } catch (err) {
      throw err instanceof CodedError ? err : isRedisConnectionError(err) ? redisUnavailable(err) : new CodedError("INTERNAL", undefined, { cause: err });
    }
    res.status(response.status || 200).json(response.body);
  }
}
