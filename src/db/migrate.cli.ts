import { loadConfigFromProcess } from '../config.js';
import { openDatabase } from './database.js';

const config = loadConfigFromProcess();
const database = await openDatabase({ databaseUrl: config.databaseUrl });
await database.close();
console.log('migrations applied');
