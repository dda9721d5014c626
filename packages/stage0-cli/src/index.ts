export { runCli } from './cli.js';
export type { CliIo } from './cli.js';
export { defineCommand } from './command.js';
export type { CommandContext, CommandModule, CommandSpec, Logger, TextSink } from './command.js';
export { CliError, EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_MISSING_COMMAND, EXIT_OK, isCodedError } from './errors.js';
export type { CliErrorCode, CodedError } from './errors.js';
export { flag, parseBool } from './argv/flag-spec.js';
export type { BoolFlagSpec, FlagSpec, FlagValue, IntFlagSpec, StringFlagSpec, StringsFlagSpec } from './argv/flag-spec.js';
export { ParsedFlags } from './argv/parsed-flags.js';
export { commandName, HELP_FLAG, parseArgv } from './argv/parse.js';
export type { Invocation } from './argv/parse.js';
export {
  DEFAULT_DATA_DIR,
  DEFAULT_LOCAL_CONFIG_DIR,
  DEFAULT_SYSTEM_CONFIG_DIR,
  GLOBAL_FLAGS,
  globalOptions,
} from './globals.js';
export type { GlobalOptions } from './globals.js';
export { INSECURE_OPTIONS, InsecureOptions } from './insecure-options.js';
export type { InsecureOption } from './insecure-options.js';
export { RKT_TABWRITER, tabwrite } from './output/tabwriter.js';
export type { TabwriterOptions } from './output/tabwriter.js';
export { LISTING_FLAGS, listingOptions, OUTPUT_FORMATS, renderListing, shortImageId } from './output/listing.js';
export type { Column, ListingOptions, OutputFormat } from './output/listing.js';
