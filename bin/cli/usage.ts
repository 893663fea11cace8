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
  --version                 print the version of zt-infra
  -h, --help                show help`;

export const EXIT_STATUS_HELP = `exit status: 0 ok, 1 the gateway refused (4xx/5xx) or a policy test failed,
             2 usage error or unusable local file, 3 cannot reach the gateway or no credentials,
             4 \`zt decide\` answered deny, 5 \`zt decide\` got an answer that does not verify
with --json an error is one JSON document on stdout: {"error":{"code":"...","message":"..."}}`;

/** One line per command, as in the top-level usage. */
export const COMMAND_LINES: Record<string, Record<string, string>> = {
  agents: {
    register: 'zt agents register <agentId> [--principal-arn ARN] [--attr key=value]...',
    list: 'zt agents list',
    get: 'zt agents get <agentId>',
    disable: 'zt agents disable <agentId>',
  },
  policies: {
    put: 'zt policies put <policyId> --file FILE|- [--description TEXT] [--shadow]',
    allow:
      'zt policies allow --action ACTION (--agent ID [--allow-unregistered] | --all-agents) [--resource R] [--reason TEXT] [--params-json JSON]',
    test: 'zt policies test FILE... --policies DIR [--schema FILE]',
    validate: 'zt policies validate DIR [--schema FILE]',
    list: 'zt policies list',
    get: 'zt policies get <policyId>',
    delete: 'zt policies delete <policyId>',
    replay:
      'zt policies replay --bundle DIR --policies DIR --public-key FILE [--public-key FILE]... [--schema FILE]',
  },
  approvals: {
    list: 'zt approvals list',
    approve: 'zt approvals approve <approvalId> --params-sha256 HEX [--ttl SECONDS]',
    reject: 'zt approvals reject <approvalId> --params-sha256 HEX',
  },
  schema: {
    put: 'zt schema put <FILE|-> [--description TEXT]',
    get: 'zt schema get',
  },
  decide: {
    '': 'zt decide ACTION --as PROFILE [--resource R] [--params JSON] [--context JSON] [--actor ID] [--public-key FILE]',
  },
  audit: {
    tail: 'zt audit tail [-n N] [--follow [--interval MS]] [--agent A] [--action X] [--decision allow|deny] [--shadow-diff]',
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
  'policies put': `Stores a Cedar policy read from FILE (- for stdin) under <policyId>, replacing any earlier one.
--shadow stores it in shadow mode: evaluated and recorded in each decision it could apply to, never deciding.`,
  'policies allow': `Creates one narrow Cedar permit for an action, for one agent (--agent) or, asked for by name, for
every agent (--all-agents), optionally for one resource. --agent must name a registered agent (zt asks the
gateway first); --allow-unregistered writes the policy for an id not registered yet. These two checks are
the CLI's: the route itself (POST /policies/allow) accepts both.
--params-json pins exact param values, e.g. '{"program": "/usr/bin/echo"}': each becomes
\`context.params.<name> == <value>\` (the action needs a declared params shape, see \`zt schema\`).`,
  'schema put': `Replaces the declarations read from FILE (- for stdin): a JSON object mapping an action id, or a
prefix written \`<prefix>.*\`, to the Cedar type of its params and of extra context attributes, e.g.
  {"payments.refund": {"params": {"type": "Record", "attributes": {"amount": {"type": "Long"}}}}}
Policies then read them as context.params (\`when { context.params.amount <= 100 }\`), and a request whose
params do not fit is a recorded deny naming the field. Refused when a stored policy would no longer validate.`,
  'policies test': `Runs policy tests offline, with nothing sent anywhere: each FILE (YAML or JSON) lists requests and the
decision expected, evaluated against the *.cedar files of --policies DIR (the policy id is the file name
without .cedar) and the declarations of --schema FILE (what \`zt schema put\` takes; default the built-in
ones alone) by the gateway's own engine: same request checks, same params checks, same reasons.
  tests:
    - name: ci may say hello
      agent: ci                     # the agent id (registered and active)
      action: hello-world.say_hello
      resource: ''                  # optional, as in POST /actions
      params: {greeting: hi}        # optional
      context: {}                   # optional
      attributes: {team: payments}  # optional: the agent's registered attributes
      expect: allow                 # allow | deny
      reason: permitted by          # optional: text the reason must contain
      policies: [hello]             # optional: the determining policy ids, exactly
Prints each failure (expected vs got, reason, policy ids). Exit 0 when all pass, 1 when one fails, 2 when a
file, a policy or a request is unusable (named with the file and the entry).`,
  'policies validate': `Validates every *.cedar file of DIR offline, as the gateway does at write time (PUT /policies), against the
declarations of --schema FILE (default the built-in ones): each problem as FILE:LINE:COLUMN: message.
Exit 0 when all are valid, 1 when one is not, 2 when DIR or the schema file cannot be used.`,
  decide: `Asks for a decision as an agent, from the shell: signs with the agent's credentials profile --as PROFILE
(e.g. zt-agent-ci, in the same credentials file as the other commands), sends ACTION with --resource,
--params and --context (JSON objects; params any JSON value), and prints the decision, its reason, the
policy ids that determined it and the record (id, lane and seq). Without --actor the agent is whoever the
credentials are (asked of the gateway once, GET /whoami); with --actor, an id that is not theirs is a
recorded deny.
With --public-key FILE (the root public key, SPKI PEM, as zt-audit takes it) the answer is verified as the
SDK does (signature chained to that root, hashes, binding to this request, freshness); one that does not
verify exits 5. Without it the record's hashes and its binding to this request are checked, but not who
signed it (a warning says so): anyone able to answer in the gateway's place could print an allow.
Exit 0 allow, 4 deny.`,
  'audit tail': `Shows the newest audit records of every lane, oldest first: time, lane/seq, agent, action, decision and
reason (-n N, default 20). --agent, --action, --decision and --shadow-diff keep only matching records
(decisions; --agent also outcomes and agent changes of that agent). --shadow-diff keeps the decisions whose
shadow decision (see "Shadow policies") differs from the decision, and prints their count. --follow keeps
polling for new records every --interval MS (default 2000, 200-60000) until interrupted (Ctrl-C).`,
  'schema get':
    "Shows the declarations: the built-in ones (the brokers' actions) and the ones put by an admin.",
  'policies list': 'Lists the stored policies.',
  'policies get': 'Shows one policy with its Cedar text.',
  'policies delete': 'Removes a policy.',
  'approvals list': `Lists the pending approvals (requests an \`@approval\` permit holds until approvers approve them),
oldest first, with how many approvals each has and needs; --json shows each request's context and params.
Signs as an approver (a principal of the gateway's approver list, or an admin).`,
  'approvals approve': `Approves a pending request, as the calling principal (never the requesting agent; one approve per
approver). --params-sha256 is the request's params digest as \`approvals list\` shows it: the approve binds to it.
It counts for --ttl seconds (at most the gateway's limit, 15 minutes by default).`,
  'approvals reject': 'Rejects a pending request for good: no approve and no claim of it is accepted after.',
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

/** The usage line of one command and where to read more: what a usage error prints. */
export function shortUsage(group: string, sub?: string): string {
  const subs = COMMAND_LINES[group];
  if (subs === undefined) return mainUsage();
  const key = subs[''] !== undefined ? '' : (sub ?? '');
  const line = subs[key];
  if (line === undefined) return commandUsage(group);
  const name = key === '' ? group : `${group} ${key}`;
  return `usage: ${line} [global options]\n\nRun \`zt ${name} --help\` for details.\n`;
}

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
