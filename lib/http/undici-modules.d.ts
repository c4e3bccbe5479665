// Types for the two undici modules lib/http/http.ts loads directly (undici types only its
// index). They are the very objects undici's index exports: test/unit/upload/http.test.ts
// checks that.
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';
  const AgentClass: typeof Agent;
  export default AgentClass;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';
  /** Dispatcher.prototype.request, before undici's index mixes it in. */
  function request(this: Pick<Dispatcher, 'dispatch'>, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  export default request;
}
