// Preloaded into the benchmark's Azurite only (NODE_OPTIONS --require), never into the tests' or a local run's.
// Azurite's queue service keeps each message's body in an extent and, once a minute, garbage-collects the unreferenced
// extents one at a time through LokiJS's findAndRemove, which rebuilds the collection's binary index after every
// removal: O(n log n) per extent, O(n^2 log n) per sweep. After a minute of a few hundred queue messages a second the
// sweep blocks Azurite's event loop for minutes (every request hangs). This removes each extent with Collection.remove
// instead (the same result: every document matching the filter is removed, the indices kept up to date in place).
'use strict';
const Module = require('module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exported = load.apply(this, arguments);
  if (request === 'lokijs' && exported && exported.Collection && !exported.Collection.prototype.__singleRemove) {
    const proto = exported.Collection.prototype;
    const findAndRemove = proto.findAndRemove;
    proto.findAndRemove = function (filter) {
      if (filter && typeof filter === 'object' && Object.keys(filter).length === 1 && typeof filter.id === 'string') {
        for (let doc = this.findOne(filter); doc; doc = this.findOne(filter)) {
          this.remove(doc);
        }
        return;
      }
      return findAndRemove.apply(this, arguments);
    };
    proto.__singleRemove = true;
  }
  return exported;
};
