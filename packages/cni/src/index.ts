export { CniError, type CniErrorCode } from './errors.js';
export { parseNetList, type NetList } from './net-list.js';
export { BUILTIN_NETS, loadNets, readNetConf, userNetDir, type LoadedNet, type NetConf } from './config.js';
export {
  DEBIAN_PLUGIN_DIR,
  DEFAULT_PLUGIN_TIMEOUTS,
  PLUGIN_TIMEOUT_ENV,
  RKT_PLUGIN_DIR,
  STAGE1_PLUGIN_DIR,
  TIMEOUT_COMMAND,
  execPlugin,
  findPlugin,
  formatTimeout,
  pluginDirs,
  pluginTimeouts,
  type PluginCall,
  type PluginTimeouts,
} from './plugin.js';
export { parseAddResult, pluginFailure, prefixToMask, resolvConfFromDns, type AddResult, type Dns } from './result.js';
export { NETNS_DIR, createNetns, netnsPath, removeNetns, type Umount } from './netns.js';
export { NET_INFO_FILE, NETNS_FILE, formatNets, netInfoJson, readNetInfo, type NetInfo } from './netinfo.js';
export {
  BUILTIN_IPAM_DATA_DIR,
  hasPodNetworks,
  planPodNetworks,
  setupPodNetworks,
  teardownPodNetworks,
  type NetworksPlan,
  type PlanOptions,
  type PodNetworks,
  type PortMapping,
  type SetupCommon,
  type SetupOptions,
  type TeardownOptions,
} from './pod-networks.js';
export { OLD_PLACE_MARK, holdOldPlaceLeases } from './old-leases.js';
export {
  CALL_CGROUP_ENV,
  CALL_CGROUP_NAME,
  callCgroupChoice,
  callCgroupHierarchies,
  callCgroupParents,
  killCallCgroup,
  makeCallCgroup,
  sweepCallCgroups,
  type CallCgroupChoice,
  type CallCgroupHierarchy,
} from './call-cgroup.js';
export { dnsOutlook, forwardableIndex, noGatewayReason } from './outlook.js';
