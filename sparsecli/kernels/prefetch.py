"""A software prefetch for numba kernels: ask for a cache line before it is needed.

Scoring a block's documents reads forward-index rows scattered over a file much larger
than the cache; requesting every row of the block as soon as its documents are known keeps
many memory loads in flight instead of one row's worth at a time (faster in
scripts/bench_search.py; the README holds the figures).
"""

from __future__ import annotations

import llvmlite.ir as ir
from numba.core import cgutils, types
from numba.extending import intrinsic

_READ, _KEEP_IN_ALL_LEVELS, _DATA = 0, 3, 1


@intrinsic
def prefetch(typingctx, array, index):
    """prefetch(array, i): hint that array[i] will be read soon. No effect on results."""
    signature = types.void(array, index)

    def codegen(context, builder, sig, args):
        array_type = sig.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte_pointer], ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32])
        )
        constants = [ir.Constant(int32, v) for v in (_READ, _KEEP_IN_ALL_LEVELS, _DATA)]
        builder.call(function, [builder.bitcast(pointer, byte_pointer), *constants])
        return context.get_dummy_value()

    return signature, codegen
