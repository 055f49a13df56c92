//go:build amd64 && !purego

#include "textflag.h"

// expfAVX2: expf (cpu_math.go) on eight lanes of a YMM register at a time. Every step is the
// scalar code's, in its order and unfused, so each lane's result is expf's bit for bit:
//
//	n  = (x·log2e + 1.5·2²³) − 1.5·2²³             round to a whole number
//	r  = (x − n·ln2Hi) − n·ln2Lo
//	p  = ((((p0·r + p1)·r + p2)·r + p3)·r + p4)·r + p5
//	e  = (p·(r·r) + r) + 1
//	k  = int(n); if k > 127 { e = 2e; k = 127 }     2^128 is not a float32
//	y  = e · bits((k+127)<<23)
//
// and then the edges, as expfEdge orders them: x > 88.72283 gives +Inf, x < −87.33654 gives 0,
// and a NaN x gives x. The constants are vectors in expfTable (R8), 32 bytes each:
#define LOG2E  0(R8)
#define ROUND  32(R8)
#define LN2HI  64(R8)
#define LN2LO  96(R8)
#define P0     128(R8)
#define P1     160(R8)
#define P2     192(R8)
#define P3     224(R8)
#define P4     256(R8)
#define P5     288(R8)
#define ONE    320(R8)
#define TWO    352(R8)
#define I127   384(R8)
#define HI     416(R8)
#define LO     448(R8)
#define INF    480(R8)

// Go's operand order is the reverse of Intel's: VSUBPS b, a, d is d = a − b.

// func expfAVX2(d, x *float32, n int, c *[expfConsts][8]uint32)
TEXT ·expfAVX2(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), R8
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0             // x
	VMULPS  LOG2E, Y0, Y1
	VADDPS  ROUND, Y1, Y1
	VSUBPS  ROUND, Y1, Y1        // n
	VMULPS  LN2HI, Y1, Y2
	VSUBPS  Y2, Y0, Y3
	VMULPS  LN2LO, Y1, Y2
	VSUBPS  Y2, Y3, Y3           // r
	VMULPS  P0, Y3, Y4
	VADDPS  P1, Y4, Y4
	VMULPS  Y3, Y4, Y4
	VADDPS  P2, Y4, Y4
	VMULPS  Y3, Y4, Y4
	VADDPS  P3, Y4, Y4
	VMULPS  Y3, Y4, Y4
	VADDPS  P4, Y4, Y4
	VMULPS  Y3, Y4, Y4
	VADDPS  P5, Y4, Y4           // p
	VMULPS  Y3, Y3, Y5
	VMULPS  Y5, Y4, Y4
	VADDPS  Y3, Y4, Y4
	VADDPS  ONE, Y4, Y4          // e

	VCVTTPS2DQ Y1, Y6            // k
	VMOVDQU    I127, Y7
	VPCMPGTD   Y7, Y6, Y8        // k > 127
	VMULPS     TWO, Y4, Y9
	VBLENDVPS  Y8, Y9, Y4, Y4    // e = 2e where k > 127
	VPMINSD    Y7, Y6, Y6
	VPADDD     Y7, Y6, Y6
	VPSLLD     $23, Y6, Y6       // 2^k
	VMULPS     Y6, Y4, Y4

	VCMPPS    $0x1e, HI, Y0, Y8  // x > HI (GT_OQ)
	VMOVUPS   INF, Y9
	VBLENDVPS Y8, Y9, Y4, Y4
	VCMPPS    $0x11, LO, Y0, Y8  // x < LO (LT_OQ)
	VANDNPS   Y4, Y8, Y4         // 0 there
	VCMPPS    $0x03, Y0, Y0, Y8  // x is NaN (UNORD_Q)
	VBLENDVPS Y8, Y0, Y4, Y4

	VMOVUPS Y4, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop

done:
	VZEROUPPER
	RET

// func geluArgAVX2(s, x *float32, n int, c, k float32)
// s = −(2·(c·(x + ((k·x)·x)·x))), geluU's operations in its order, negated and doubled as
// sigmoidBlock does: the exponent of GELU's σ(2u). n is a multiple of 8.
TEXT ·geluArgAVX2(SB), NOSPLIT, $0-32
	MOVQ         s+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS c+24(FP), Y5
	VBROADCASTSS k+28(FP), Y6
	MOVL         $0x40000000, AX  // 2
	MOVL         AX, X7
	VBROADCASTSS X7, Y7
	MOVL         $0x80000000, AX  // the sign bit
	MOVL         AX, X8
	VBROADCASTSS X8, Y8
	SHRQ         $3, CX
	JZ           gdone

gloop:
	VMOVUPS (SI), Y0
	VMULPS  Y0, Y6, Y1           // k·x
	VMULPS  Y0, Y1, Y1           // ·x
	VMULPS  Y0, Y1, Y1           // ·x
	VADDPS  Y1, Y0, Y1           // x + …
	VMULPS  Y1, Y5, Y1           // u = c·(…)
	VMULPS  Y1, Y7, Y1           // 2u
	VXORPS  Y8, Y1, Y1           // −2u
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     gloop

gdone:
	VZEROUPPER
	RET

// func sigmoidTailAVX2(s *float32, n int)
// s = 1/(1 + s): sigmoidf's last two operations. n is a multiple of 8.
TEXT ·sigmoidTailAVX2(SB), NOSPLIT, $0-16
	MOVQ         s+0(FP), DI
	MOVQ         n+8(FP), CX
	MOVL         $0x3f800000, AX  // 1
	MOVL         AX, X7
	VBROADCASTSS X7, Y7
	SHRQ         $3, CX
	JZ           tdone

tloop:
	VADDPS  (DI), Y7, Y0         // 1 + e
	VDIVPS  Y0, Y7, Y0           // 1/(1 + e)
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNZ     tloop

tdone:
	VZEROUPPER
	RET

// func normRowAVX2(out, in, w *float32, n int, mu, rs float64)
// out = float32(((float64(in) − mu)·rs)·float64(w)), four lanes of float64 at a time, with w = 1
// when w is nil (exact: the one-row loops of LayerNorm and RMSNorm, which skip the product,
// give the same value). n is a multiple of 4.
TEXT ·normRowAVX2(SB), NOSPLIT, $0-48
	MOVQ         out+0(FP), DI
	MOVQ         in+8(FP), SI
	MOVQ         w+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD mu+32(FP), Y1
	VBROADCASTSD rs+40(FP), Y2
	SHRQ         $2, CX
	JZ           ndone
	TESTQ        DX, DX
	JZ           nplain

nweighted:
	VCVTPS2PD  (SI), Y0
	VSUBPD     Y1, Y0, Y0        // v − mu
	VMULPD     Y2, Y0, Y0        // ·rs
	VCVTPS2PD  (DX), Y3
	VMULPD     Y3, Y0, Y0        // ·w
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DX
	ADDQ       $16, DI
	DECQ       CX
	JNZ        nweighted
	JMP        ndone

nplain:
	VCVTPS2PD  (SI), Y0
	VSUBPD     Y1, Y0, Y0
	VMULPD     Y2, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        nplain

ndone:
	VZEROUPPER
	RET
