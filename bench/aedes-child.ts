/**
 * Raw aedes on TCP in its own process, the reference for memory per idle device:
 * `node --expose-gc dist/bench/aedes-child.js` (IPC: start → {port}, memory, stop).
 */
import { Aedes } from 'aedes';
import { serveBroker } from './broker-child.js';

serveBroker(await Aedes.createBroker());
