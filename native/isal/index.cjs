'use strict'
// The addon node-gyp built at install (see binding.gyp); loading throws where it was not built.
module.exports = require('./build/Release/isal_inflate.node')
