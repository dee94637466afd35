import './errors.js';

export {
  Allowlist,
  formatDestination,
  normalizeAllowlist,
  parseAuthority,
  parseDestination,
  parseHostPattern,
  patternMatches,
  type Destination,
  type DestinationKind,
  type HostPattern,
  type HostProblem,
} from './allowlist.js';
export {
  BROKER_KEY_FILE,
  TICKET_SCHEMA_VERSION,
  assertTicketLive,
  basicCredentials,
  brokerKeyId,
  checkTicketSecret,
  decodeTicketToken,
  defaultBrokerKeyFile,
  deriveSessionId,
  encodeTicketToken,
  isTicketToken,
  loadBrokerKey,
  loadOrCreateBrokerKey,
  mintTicket,
  readTicketFile,
  redactTicket,
  ticketMac,
  ticketSecret,
  verifyTicket,
  writeTicketFile,
  type MintTicketInput,
  type PublicTicket,
  type Ticket,
} from './ticket.js';
export { removeStaleSocketDirs, type SocketDirCleanup } from './socket-dirs.js';
export { RevocationList, type RevocationListOptions } from './revocation.js';
export type { HostLookup, ResolvedAddress } from './resolve.js';
export { describeUpstreamProxy, redactUpstreamProxy, resolveUpstreamProxy, type UpstreamProxySetting } from './upstream-proxy.js';
export { DecisionLog, summarizeEgressLog, type Decision, type DecisionEntry, type DecisionSink } from './decision-log.js';
export {
  Broker,
  DEFAULT_BROKER_TIMEOUTS,
  DEFAULT_MAX_HEADER_BYTES,
  createBroker,
  formatAddress,
  type BrokerAddress,
  type BrokerOptions,
  type BrokerStats,
  type BrokerTimeouts,
  type ListenTarget,
} from './broker/broker.js';
export { serveBroker, parseListenAddress, type ServeBrokerOptions, type ServeBrokerResult } from './broker/serve.js';
export {
  Provider,
  connectProvider,
  parseBrokerTarget,
  type BrokerTarget,
  type ProviderOptions,
  type ProviderStats,
} from './provider/provider.js';
export { serveProvider, type ServeProviderOptions, type ServeProviderResult } from './provider/serve.js';
export {
  DEFAULT_TICKET_TTL_S,
  MAX_TICKET_TTL_S,
  mintTicketFromNetCap,
  type MintTicketCommandOptions,
  type MintTicketCommandResult,
} from './mint.js';
export { locateSandbox, probeSandbox, userNamespaceSysctls, type SandboxLayer, type SandboxProbe } from './sandbox/probe.js';
export { type SandboxTools } from './sandbox/tools.js';
export {
  EGRESS_LOG_FILE,
  PROXY_VARIABLES,
  createEgressProvider,
  type EgressProviderOptions,
} from './egress-provider.js';
