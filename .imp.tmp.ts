const t=performance.now(); await import('@noble/hashes/blake3.js'); console.log('@noble/hashes/blake3.js', (performance.now()-t).toFixed(1),'ms')
