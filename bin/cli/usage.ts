/** Usage texts of the `zt` CLI, one per level, so `--help` works everywhere. */

export const GLOBAL_OPTIONS_HELP = `global options:
  --endpoint URL            gateway URL (env ZT_ENDPOINT, default http://127.0.0.1:8787)
  --profile NAME            credentials profile (env AWS_PROFILE, default zt-admin)
  --region REGION           signing region (env AWS_REGION or AWS_DEFAULT_REGION, default us-east-1)
  --credentials-file FILE   shared credentials file (env AWS_SHARED_CREDENTIALS_FILE; else
                            $ZT_DATA_DIR/aws-credentials or ./.zt/aws-credentials when present;
                            else ~/.aws/credentials)
  --timeout MS              per-request timeout in milliseconds (default 10000)
  --json                    print JSON instead of human-readable lines
  --verbose                 say which endpoint, profile and credentials file are used
  -h, --help                show help`;

export const EXIT_STATUS_HELP = `exit status: 0 ok, 1 the gateway refused (4xx/5xx), 2 usage error,
             3 cannot reach the gateway or no credentials`;

/** One line per command, as in the top-level usage. */
export const COMMAND_LINES: Record<string, Record<string, string>> = {
  agents: {
    register: 'zt agents register <agentId> [--principal-arn ARN] [--attr key=value]...',
    list: 'zt agents list',
    get: 'zt agents get <agentId>',
    disable: 'zt agents disable <agentId>',
  },
  policies: {
    put: 'zt policies put <policyId> --file FILE|- [--description TEXT]',
    allow:
      'zt policies allow --action ACTION [--agent ID] [--resource R] [--reason TEXT] [--params-json JSON]',
    list: 'zt policies list',
    get: 'zt policies get <policyId>',
    delete: 'zt policies delete <policyId>',
    replay:
      'zt policies replay --bundle DIR --policies DIR --public-key FILE [--public-key FILE]... [--schema FILE]',
  },
  schema: {
    put: 'zt schema put <FILE|-> [--description TEXT]',
    get: 'zt schema get',
  },
  audit: {
    export:
      'zt audit export (--out FILE | --bundle DIR [--requests | --resume] [--after [LANE=]SEQ]... | --format ocsf [--out FILE]) [--page-size N]',
  },
  keys: { '': 'zt keys [--root-pem [--remote]]' },
  health: { '': 'zt health' },
  'mcp-proxy': {
    '': 'zt mcp-proxy --server NAME --public-key FILE [--agent ID] [--listen HOST:PORT] (--upstream URL | -- COMMAND [ARGS...])',
  },
};

const DESCRIPTIONS: Record<string, string> = {
  'agents register': `Registers an agent. Without --principal-arn the local emulator mints credentials for it,
writes them to its credentials file as profile zt-agent-<agentId>, and they are printed here once.
--attr may repeat; a repeated key makes a list of strings.`,
  'agents list': 'Lists the registered agents.',
  'agents get': 'Shows one agent.',
  'agents disable':
    'Disables an agent: its later requests are recorded denies and its earlier allows cannot be started.',
  'policies put':
    'Stores a Cedar policy read from FILE (- for stdin) under <policyId>, replacing any earlier one.',
  'policies allow': `Creates one narrow Cedar permit for an action, optionally for one agent and one resource.
--params-json pins exact param values, e.g. '{"program": "/usr/bin/echo"}': each becomes
\`context.params.<name> == <value>\` (the action needs a declared params shape, see \`zt schema\`).`,
  'schema put': `Replaces the declarations read from FILE (- for stdin): a JSON object mapping an action id, or a
prefix written \`<prefix>.*\`, to the Cedar type of its params and of extra context attributes, e.g.
  {"payments.refund": {"params": {"type": "Record", "attributes": {"amount": {"type": "Long"}}}}}
Policies then read them as context.params (\`when { context.params.amount <= 100 }\`), and a request whose
params do not fit is a recorded deny naming the field. Refused when a stored policy would no longer validate.`,
  'schema get':
    "Shows the declarations: the built-in ones (the brokers' actions) and the ones put by an admin.",
  'policies list': 'Lists the stored policies.',
  'policies get': 'Shows one policy with its Cedar text.',
  'policies delete': 'Removes a policy.',
  'policies replay': `Replays a verified audit bundle against candidate policies, offline (no gateway is called).
First verifies the bundle (\`zt-audit verify --bundle DIR --public-key FILE\`) and refuses one that does not verify.
Then re-evaluates every decision whose request data the gateway kept (ZT_KEEP_REQUESTS; exported with
\`zt audit export --bundle DIR --requests\` as requests.jsonl, each checked against its record's params and context
hashes: a mismatch refuses the replay) against the policies of --policies DIR (each <policyId>.cedar file is one
policy, validated as \`zt policies put\` would), with the declarations of --schema FILE or of the bundle's newest
schema record, and prints the decisions that would change, by agent and action. A decision whose request data
was not kept is counted as not replayable, never guessed; one denied before any policy was read (unknown
principal, disabled agent, actor mismatch) stays as it was. Exit 1 when the replay is refused.`,
  'audit export': `Writes the whole audit log, every lane, to FILE as JSON Lines (lane after lane), each record exactly
as the gateway serves it. The file appears under its name only when the export is complete. Progress goes to
stderr on a terminal.

With --bundle DIR it writes a bundle for \`zt-audit verify --bundle DIR\`: checkpoint.json (the epoch naming
every lane's size and root, and every lane's checkpoint, asked for first; each lane's records are fetched up to
the size the epoch signs, so it covers every tail), lanes/<lane>.jsonl, and keys.json (the gateway's public keys
with the certificates of its session keys). --resume continues every lane file from where it ends; --after
[LANE=]SEQ (repeatable; a SEQ alone is main's) also checks that LANE's file ends at SEQ. A bundle from before
lanes (records.jsonl) is resumed as its main lane. --requests (a fresh export only) also writes requests.jsonl:
the request data the gateway kept for replay (ZT_KEEP_REQUESTS), for \`zt policies replay\`.

With --format ocsf each line is instead the record as an OCSF 1.8.0 event for a SIEM (decisions and outcomes as
API Activity, agent changes as Account Change, policy, schema and key records as Entity Management), keeping the
record's id, lane, seq and hash (metadata.uid, unmapped.zt) and its stored text (raw_data); to FILE, or to
stdout without --out. --format records (the default) is the plain export.`,
  keys: `Lists the gateway's public signing keys (root and session).

With --root-pem it prints the root public key (SPKI PEM) to pin: the SDK's \`trustedKeys\`, zt-audit's
--public-key. By default it reads the local key file, $ZT_DATA_DIR/signing-key.pem (./.zt/signing-key.pem),
without asking the gateway. With --remote (or --endpoint URL) it takes the key from the gateway's GET /keys
and warns on stderr: that is the party you are about to trust, so compare the key id out of band (for the
cloud stack, \`aws kms get-public-key --key-id <RootKeyArn>\`).`,
  health: 'Checks that the gateway is up (unsigned).',
  'mcp-proxy': `An MCP gateway between an MCP client and an MCP server: the client talks to the proxy (on stdio, or
on Streamable HTTP at http://HOST:PORT/mcp with --listen, loopback only), the proxy talks to the server
(the COMMAND after --, spawned with this environment, or the Streamable HTTP endpoint --upstream URL).

Every tools/call is decided first as action mcp.<NAME>.<tool> with the tool's arguments as params, signed
as the agent (--profile; --agent ID, default the ID of a zt-agent-<ID> profile). A deny, or any failure
to get a verified allow, answers the client with a tool error result saying why (and the decision
record's id) and the server never sees the call. An allow is claimed (started), forwarded, and the
server's answer returned unchanged, then its outcome (succeeded/failed, SHA-256 of the result) chained.
tools/list answers only the tools the agent may be allowed (POST /actions/allowed); without a verified
answer it is an error and no tool is offered. Every answer must chain to the root key --public-key FILE
(SPKI PEM, as zt-audit takes it; \`zt keys --root-pem\` prints it).

--server NAME is yours to choose (1-64 letters, digits, _ or -; never the server's own name, which the
server could set to another's). --print-declarations lists the server's tools and prints Cedar
declarations of their arguments for \`zt schema put\` instead (notes on stderr), then exits.
The profile default is AWS_PROFILE (not zt-admin): the proxy acts as an agent.`,
};

/** The top-level usage. */
export function mainUsage(): string {
  const lines = Object.values(COMMAND_LINES).flatMap((subs) => Object.values(subs));
  return `usage: zt <command> [options]

Admin CLI of the zt authorization gateway.

commands:
${lines.map((l) => `  ${l.slice(3)}`).join('\n')}

Run \`zt <command> --help\` for details.

${GLOBAL_OPTIONS_HELP}

${EXIT_STATUS_HELP}
`;
}

/** The usage of a command group (`zt agents`) or of one command (`zt agents register`). */
export function commandUsage(group: string, sub?: string): string {
  const subs = COMMAND_LINES[group];
  if (subs === undefined) return mainUsage();
  const single = subs[''] !== undefined ? '' : sub;
  if (single !== undefined && subs[single] !== undefined) {
    const name = single === '' ? group : `${group} ${single}`;
    return `usage: ${subs[single]} [global options]

${DESCRIPTIONS[name] ?? ''}

${GLOBAL_OPTIONS_HELP}

${EXIT_STATUS_HELP}
`;
  }
  return `usage: zt ${group} <${Object.keys(subs).join('|')}> [options]

${Object.values(subs)
  .map((l) => `  ${l}`)
  .join('\n')}

Run \`zt ${group} <command> --help\` for details.

${GLOBAL_OPTIONS_HELP}
`;
}
