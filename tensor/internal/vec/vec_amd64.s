//go:build amd64 && !purego

#include "textflag.h"

// Go's operand order is the reverse of Intel's: VSUBPS b, a, d is d = a − b.

// func applyAVX2(op Op, d, a, b *float32, n int)
TEXT ·applyAVX2(SB), NOSPLIT, $0-40
	MOVQ op+0(FP), AX
	MOVQ d+8(FP), DI
	MOVQ a+16(FP), SI
	MOVQ b+24(FP), DX
	MOVQ n+32(FP), CX
	SHRQ $3, CX                  // vectors of 8
	JZ   done
	CMPQ AX, $1
	JEQ  sub
	CMPQ AX, $2
	JEQ  mul

add:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     add
	JMP     done

sub:
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sub
	JMP     done

mul:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     mul

done:
	VZEROUPPER
	RET

// func applyScalarAVX2(op Op, d, a *float32, s float32, n int)
TEXT ·applyScalarAVX2(SB), NOSPLIT, $0-40
	MOVQ         op+0(FP), AX
	MOVQ         d+8(FP), DI
	MOVQ         a+16(FP), SI
	VBROADCASTSS s+24(FP), Y1
	MOVQ         n+32(FP), CX
	SHRQ         $3, CX
	JZ           sdone
	CMPQ         AX, $1
	JEQ          ssub
	CMPQ         AX, $2
	JEQ          smul

sadd:
	VMOVUPS (SI), Y0
	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sadd
	JMP     sdone

ssub:
	VMOVUPS (SI), Y0
	VSUBPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     ssub
	JMP     sdone

smul:
	VMOVUPS (SI), Y0
	VMULPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     smul

sdone:
	VZEROUPPER
	RET

// func maxAVX2(lanes *[8]float32, x *float32, n int)
// Intel's VMAXPS dst, src1, src2 returns src2 where either is a NaN (and where both are
// zeros): with the running maximum as src2, a NaN in x leaves it alone, as "if v > m" does.
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ lanes+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	MOVL $0xff800000, AX         // −Inf
	MOVL AX, X1
	VBROADCASTSS X1, Y1

mloop:
	VMOVUPS (SI), Y0
	VMAXPS  Y1, Y0, Y1           // Y1 = max(src1 = x, src2 = Y1)
	ADDQ    $32, SI
	DECQ    CX
	JNZ     mloop

	VMOVUPS Y1, (DI)
	VZEROUPPER
	RET

// func accumulateAVX2(acc *float64, x *float32, n int)
TEXT ·accumulateAVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX

aloop:
	VCVTPS2PD (SI), Y0           // x[0:4] widened
	VCVTPS2PD 16(SI), Y1         // x[4:8]
	VADDPD    (DI), Y0, Y0
	VADDPD    32(DI), Y1, Y1
	VMOVUPD   Y0, (DI)
	VMOVUPD   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       aloop

	VZEROUPPER
	RET

// func adamwAVX2(k *[10][4]float64, param, grad, m1, m2 *float32, n int)
// (g is a register's name in Go assembly, hence the longer names)
// k's rows: 0 scale, 1 β₁, 2 1−β₁, 3 β₂, 4 1−β₂, 5 bc₁, 6 bc₂, 7 ε, 8 decay, 9 lr.
TEXT ·adamwAVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), BX
	MOVQ param+8(FP), DI
	MOVQ grad+16(FP), SI
	MOVQ m1+24(FP), DX
	MOVQ m2+32(FP), R8
	MOVQ n+40(FP), CX
	SHRQ $2, CX

wloop:
	VCVTPS2PD  (SI), Y0          // g
	VMULPD     0(BX), Y0, Y0     // g' = g·scale
	VCVTPS2PD  (DX), Y1          // m
	VMULPD     32(BX), Y1, Y1    // β₁m
	VMULPD     64(BX), Y0, Y2    // (1−β₁)g'
	VADDPD     Y2, Y1, Y1        // m'
	VCVTPS2PD  (R8), Y3          // v
	VMULPD     96(BX), Y3, Y3    // β₂v
	VMULPD     128(BX), Y0, Y4   // (1−β₂)g'
	VMULPD     Y0, Y4, Y4        // (1−β₂)g'·g'
	VADDPD     Y4, Y3, Y3        // v'
	VCVTPD2PSY Y1, X5
	VMOVUPS    X5, (DX)
	VCVTPD2PSY Y3, X6
	VMOVUPS    X6, (R8)
	VDIVPD     160(BX), Y1, Y1   // m'/bc₁
	VDIVPD     192(BX), Y3, Y3   // v'/bc₂
	VSQRTPD    Y3, Y3
	VADDPD     224(BX), Y3, Y3   // √(v'/bc₂) + ε
	VDIVPD     Y3, Y1, Y1        // the step
	VMULPD     288(BX), Y1, Y1   // lr·step
	VCVTPS2PD  (DI), Y7          // p
	VMULPD     256(BX), Y7, Y7   // p·decay
	VSUBPD     Y1, Y7, Y7        // p·decay − lr·step
	VCVTPD2PSY Y7, X7
	VMOVUPS    X7, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DX
	ADDQ       $16, R8
	ADDQ       $16, DI
	DECQ       CX
	JNZ        wloop

	VZEROUPPER
	RET
