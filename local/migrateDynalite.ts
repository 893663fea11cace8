import { rename, stat } from 'node:fs/promises';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { TABLE_ATTRIBUTES, TABLE_KEY } from '../lambdas/adapters/tableDefinition.js';
import { DataDirError } from './rootKey.js';
import type { SqliteKeyValueStore } from './SqliteKeyValueStore.js';

/** Meta key set, in the same commit as the copied items, once a first-release store was copied. */
export const MIGRATED_META_KEY = 'migrated_from_dynalite';

/** Where the first release kept its dynalite (LevelDB) store inside the data dir. */
export const LEGACY_STORE_DIR = 'store';

interface LegacyItem {
  pk: string;
  sk: string;
  data: string | null;
  n: number | null;
}

/** One item of the first release's table as the SQLite store keeps it; anything unexpected is refused. */
function toItem(item: Record<string, AttributeValue>): LegacyItem {
  const known = new Set<string>([
    TABLE_KEY.partitionKey,
    TABLE_KEY.sortKey,
    TABLE_ATTRIBUTES.data,
    TABLE_ATTRIBUTES.counter,
  ]);
  const extra = Object.keys(item).filter((name) => !known.has(name));
  const pk = item[TABLE_KEY.partitionKey]?.S;
  const sk = item[TABLE_KEY.sortKey]?.S;
  const dataAttribute = item[TABLE_ATTRIBUTES.data];
  const counterAttribute = item[TABLE_ATTRIBUTES.counter];
  const data = dataAttribute?.S ?? null;
  const n = counterAttribute?.N === undefined ? null : Number(counterAttribute.N);
  if (
    pk === undefined ||
    sk === undefined ||
    extra.length > 0 ||
    (dataAttribute !== undefined && data === null) ||
    (counterAttribute !== undefined && (n === null || !Number.isSafeInteger(n)))
  ) {
    throw new DataDirError(
      'MIGRATION_FAILED',
      `the first-release store holds an item this emulator cannot copy exactly (attributes \`${Object.keys(item).join(', ')}\`)`,
    );
  }
  return { pk, sk, data, n };
}

/**
 * Copies the first release's dynalite store (`<dataDir>/store`, LevelDB) into `target` once, byte for
 * byte, then renames the old directory aside (`store.dynalite-migrated`), so chains written by the first
 * release keep verifying and growing.
 *
 * Crash-safe: the copy, the check and a marker (`meta`) commit in one SQLite transaction, so a crash
 * leaves either an empty store (the copy runs again next start) or a complete one whose marker says the
 * old directory only needs renaming. Before committing, every item is read back from SQLite and compared
 * with a second scan of dynalite (data, counter, count).
 *
 * dynalite is loaded only here, on demand: this is the one place it is still used by the emulator.
 *
 * @returns the number of items copied, or null when there was nothing to migrate
 */
export async function migrateFirstReleaseStore(
  dataDir: string,
  target: SqliteKeyValueStore,
  now: () => Date = () => new Date(),
): Promise<{ items: number; renamedTo: string } | null> {
  const legacy = `${dataDir}/${LEGACY_STORE_DIR}`;
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(legacy)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (!isDirectory) return null;

  let items = 0;
  if (target.getMeta(MIGRATED_META_KEY) === null) {
    if (target.countItems() !== 0) {
      throw new DataDirError(
        'DATA_DIR_AMBIGUOUS',
        `data dir \`${dataDir}\` holds both a store (\`store.sqlite\`) and a first-release store (\`store/\`) never copied into it; move one of them out of the data dir`,
      );
    }
    items = await copy(legacy, target, now);
  }
  const renamedTo = await renameAside(legacy, now);
  return { items, renamedTo };
}

async function copy(legacy: string, target: SqliteKeyValueStore, now: () => Date): Promise<number> {
  const { startEmbeddedStore, DEFAULT_TABLE_NAME } = await import('./embeddedStore.js');
  let embedded: Awaited<ReturnType<typeof startEmbeddedStore>>;
  try {
    embedded = await startEmbeddedStore({ path: legacy });
  } catch (cause) {
    throw new DataDirError(
      'MIGRATION_FAILED',
      `could not open the first-release store \`${legacy}\` (is an older emulator still running on it?): ${(cause as Error).message}`,
    );
  }
  const scan = async function* (): AsyncGenerator<LegacyItem> {
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await embedded.client.send(
        new ScanCommand({ TableName: DEFAULT_TABLE_NAME, ConsistentRead: true, ExclusiveStartKey: startKey }),
      );
      for (const item of page.Items ?? []) yield toItem(item);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  };
  try {
    let copied = 0;
    const verify = async (): Promise<void> => {
      let seen = 0;
      for await (const item of scan()) {
        seen++;
        const stored = target.getRaw(item.pk, item.sk);
        if (stored === null || stored.data !== item.data || stored.n !== item.n) {
          throw new DataDirError(
            'MIGRATION_FAILED',
            `item \`${item.pk}\`/\`${item.sk}\` did not copy exactly from the first-release store`,
          );
        }
      }
      if (seen !== copied || target.countItems() !== copied) {
        throw new DataDirError(
          'MIGRATION_FAILED',
          `copied ${copied} items but the first-release store holds ${seen} and the new store ${target.countItems()}`,
        );
      }
    };
    copied = await target.bulkLoad(
      (async function* () {
        for await (const item of scan()) {
          copied++;
          yield item;
        }
      })(),
      { [MIGRATED_META_KEY]: JSON.stringify({ from: legacy, at: now().toISOString() }) },
      verify,
    );
    return copied;
  } finally {
    await embedded.close();
  }
}

/** Renames the old store to `store.dynalite-migrated` (or with a time suffix when that name is taken). */
async function renameAside(legacy: string, now: () => Date): Promise<string> {
  let to = `${legacy}.dynalite-migrated`;
  try {
    await stat(to);
    to = `${to}-${now().toISOString().replace(/[:.]/g, '-')}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await rename(legacy, to);
  return to;
}
