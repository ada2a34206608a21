import { loadConfigFromProcess } from '../config.js';
import { openDatabase } from './database.js';

const config = loadConfigFromProcess();
const database = await openDatabase(config);
await database.close();
console.log('migrations applied');
