// Matmul ops: batched matmul with transposes, and linear layers (x·Wᵀ + b), through BLAS.
import ForgeCore
import ForgeKernels

/// A row-major matrix operand: pointer, stored rows × cols, and whether it is used transposed.
struct MatrixOperand {
    let pointer: UnsafePointer<Float>
    let rows: Int, cols: Int
    let transposed: Bool
    var opRows: Int { transposed ? cols : rows }
    var opCols: Int { transposed ? rows : cols }
    var t: MatrixOperand { MatrixOperand(pointer: pointer, rows: rows, cols: cols, transposed: !transposed) }
}

/// C (+)= op(A)·op(B), split over workers; with `BFloat16.matrixOperands`, A and B are first rounded to bf16
/// (Float32 accumulation and output, as bf16 autocast computes them).
func gemm(_ a: MatrixOperand, _ b: MatrixOperand, into c: UnsafeMutablePointer<Float>, accumulate: Bool, parallel: Bool = true) {
    precondition(a.opCols == b.opRows, "matmul inner dimensions differ")
    if BFloat16.matrixOperands {
        let ra = Tensor(shape: [a.rows * a.cols], zeroed: false), rb = Tensor(shape: [b.rows * b.cols], zeroed: false)
        BFloat16.round(a.pointer, ra.data, a.rows * a.cols)
        BFloat16.round(b.pointer, rb.data, b.rows * b.cols)
        let f = parallel ? BLAS.parallelSgemm : BLAS.sgemm
        f(a.transposed, b.transposed, a.opRows, b.opCols, a.opCols, 1, ra.data, a.cols, rb.data, b.cols, accumulate ? 1 : 0, c, b.opCols)
        return
    }
    let f = parallel ? BLAS.parallelSgemm : BLAS.sgemm
    f(a.transposed, b.transposed, a.opRows, b.opCols, a.opCols, 1, a.pointer, a.cols, b.pointer, b.cols,
      accumulate ? 1 : 0, c, b.opCols)
}

extension Tape {
    /// Batched op(a)·op(b). a is [..., M, K] ([..., K, M] if transA); b likewise, or 2-D (shared by every batch).
    public func matmul(_ a: Variable, _ b: Variable, transA: Bool = false, transB: Bool = false) -> Variable {
        precondition(a.shape.count >= 2 && b.shape.count >= 2, "matmul needs matrices")
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        precondition(batchB.isEmpty || batchA == batchB, "matmul batch dimensions \(batchA) and \(batchB) differ")
        let batches = batchA.reduce(1, *)
        let (ar, ac) = (a.shape[a.shape.count - 2], a.shape.last!)
        let (br, bc) = (b.shape[b.shape.count - 2], b.shape.last!)
        let m = transA ? ac : ar, k = transA ? ar : ac
        let kb = transB ? bc : br, n = transB ? br : bc
        precondition(k == kb, "matmul shapes \(a.shape)\(transA ? "ᵀ" : "") and \(b.shape)\(transB ? "ᵀ" : "") do not fit")
        let strideB = batchB.isEmpty ? 0 : br * bc
        let out = Tensor(shape: batchA + [m, n], zeroed: false)
        func opA(_ i: Int, _ p: UnsafePointer<Float>) -> MatrixOperand { MatrixOperand(pointer: p + i * ar * ac, rows: ar, cols: ac, transposed: transA) }
        func opB(_ i: Int, _ p: UnsafePointer<Float>) -> MatrixOperand { MatrixOperand(pointer: p + i * strideB, rows: br, cols: bc, transposed: transB) }
        for i in 0..<batches {
            gemm(opA(i, a.value.data), opB(i, b.value.data), into: out.data + i * m * n, accumulate: false)
        }
        let result = self.result(out, inputs: a, b)
        record(result) {
            let dc = result.grad!.data
            func opC(_ i: Int) -> MatrixOperand { MatrixOperand(pointer: dc + i * m * n, rows: m, cols: n, transposed: false) }
            if a.requiresGrad {
                a.withGrad { da, acc in
                    for i in 0..<batches {
                        // dA = dC·op(B)ᵀ, or its transpose when A is used transposed.
                        let dst = da + i * ar * ac
                        if transA { gemm(opB(i, b.value.data), opC(i).t, into: dst, accumulate: acc) }
                        else { gemm(opC(i), opB(i, b.value.data).t, into: dst, accumulate: acc) }
                    }
                }
            }
            if b.requiresGrad {
                b.withGrad { db, acc in
                    for i in 0..<batches {
                        let dst = db + i * strideB
                        let accumulate = acc || (strideB == 0 && i > 0)
                        if transB { gemm(opC(i).t, opA(i, a.value.data), into: dst, accumulate: accumulate) }
                        else { gemm(opA(i, a.value.data).t, opC(i), into: dst, accumulate: accumulate) }
                    }
                }
            }
        }
        return result
    }

    /// x·Wᵀ + b for x [..., in], weight [out, in] (PyTorch's layout), bias [out].
    public func linear(_ x: Variable, _ weight: Variable, _ bias: Variable? = nil) -> Variable {
        precondition(weight.shape.count == 2, "linear weight must be 2-D, got \(weight.shape)")
        let (outF, inF) = (weight.shape[0], weight.shape[1])
        precondition(x.value.lastDim == inF, "linear input \(x.shape) does not fit weight \(weight.shape)")
        if let bias { precondition(bias.shape == [outF], "bias \(bias.shape) does not fit weight \(weight.shape)") }
        let n = x.value.rows
        let out = Tensor(shape: Array(x.shape.dropLast()) + [outF], zeroed: false)
        if let bias {
            for r in 0..<n { (out.data + r * outF).update(from: bias.value.data, count: outF) }
        }
        let xm = MatrixOperand(pointer: x.value.data, rows: n, cols: inF, transposed: false)
        let wm = MatrixOperand(pointer: weight.value.data, rows: outF, cols: inF, transposed: false)
        gemm(xm, wm.t, into: out.data, accumulate: bias != nil)
        let result = self.result(out, inputs: x, weight, bias)
        record(result) {
            let dy = MatrixOperand(pointer: result.grad!.data, rows: n, cols: outF, transposed: false)
            if x.requiresGrad { x.withGrad { dx, acc in gemm(dy, wm, into: dx, accumulate: acc) } }
            if weight.requiresGrad { weight.withGrad { dw, acc in gemm(dy.t, xm, into: dw, accumulate: acc) } }
            if let bias, bias.requiresGrad {
                bias.withGrad { db, acc in Elementwise.columnSums(dy.pointer, rows: n, cols: outF, db, accumulate: acc) }
            }
        }
        return result
    }
}
