// textgan's fp32 GEMM (Sources/CKernels/gemm.c) against MKL's cblas_sgemm, one thread each, on the products the
// training phases spend their time in. Each shape alternates the two libraries 12 times and keeps each one's best
// time, so both see the same machine state. Built and run by scripts/gemm-vs-mkl/run.sh; not part of CI.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <stdint.h>
int tg_sgemm_bias(int,int,int64_t,int64_t,int64_t,float,const float*,int64_t,const float*,int64_t,float,float*,int64_t,const float*);
enum {RowMajor=101, NoTrans=111, Trans=112};
void cblas_sgemm(int,int,int,int,int,int,float,const float*,int,const float*,int,float,float*,int);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *rnd(int64_t n){float *p=aligned_alloc(64,((n*4+63)/64)*64);for(int64_t i=0;i<n;i++)p[i]=(float)((i*2654435761u)%1000)/1000.0f-0.5f;return p;}
static void compare(const char*name,int ta,int tb,int64_t m,int64_t n,int64_t k,float beta){
  int64_t lda=ta?m:k, ldb=tb?k:n;
  float *a=rnd((ta?k:m)*lda),*b=rnd((tb?n:k)*ldb),*c=rnd(m*n),*c2=rnd(m*n);
  int reps=100000000/(2*m*n*k)+1; double best[2]={1e9,1e9};
  for(int rep=0;rep<12;rep++){
    double t=now(); for(int r=0;r<reps;r++) tg_sgemm_bias(ta,tb,m,n,k,1,a,lda,b,ldb,beta,c,n,NULL); t=(now()-t)/reps; if(t<best[0])best[0]=t;
    t=now(); for(int r=0;r<reps;r++) cblas_sgemm(RowMajor,ta?Trans:NoTrans,tb?Trans:NoTrans,m,n,k,1,a,lda,b,ldb,beta,c2,n); t=(now()-t)/reps; if(t<best[1])best[1]=t;}
  double md=0; for(int64_t i=0;i<m*n;i++){double d=c[i]-c2[i]; if(d<0)d=-d; if(d>md)md=d;}
  printf("| %s | %ld×%ld×%ld | %.0f | %.0f | %.2f |\n",name,m,n,k,2.0*m*n*k/best[0]/1e9,2.0*m*n*k/best[1]/1e9,best[1]/best[0]);
}
int main(){
  printf("| product | m×n×k | textgan GFLOP/s | MKL GFLOP/s | MKL time / textgan time |\n|---|---|---|---|---|\n");
  compare("LSTM logits (64 rows)",0,0,64,5000,32,0);
  compare("LSTM logits dW (xᵀ·dL)",1,0,32,5000,64,1);
  compare("LSTM logits dx (dL·Wᵀ)",0,1,64,32,5000,0);
  compare("Transformer logits (64 rows)",0,0,64,5000,64,0);
  compare("Transformer logits dW",1,0,64,5000,64,1);
  compare("Transformer logits dx",0,1,64,64,5000,0);
  compare("soft rows · E (1280 rows)",0,0,1280,64,5000,0);
  compare("highway forward (x·Wᵀ)",0,1,64,1720,1720,0);
  compare("highway dW (dYᵀ·x)",1,0,1720,1720,64,1);
  compare("highway dX (dY·W)",0,0,64,1720,1720,0);
  compare("LSTM step gates (h·Wh)",0,0,64,128,32,1);
  compare("LSTM input gates (all steps)",0,0,1280,128,32,0);
  compare("LSTM gates dW (xᵀ·dG)",1,0,32,128,1280,1);
  compare("LSTM step dh (dG·Whᵀ)",0,1,64,32,128,0);
  compare("Transformer qkv (x·W)",0,0,1280,192,64,0);
  compare("Transformer MLP up",0,0,1280,256,64,0);
  compare("Transformer MLP down",0,0,1280,64,256,0);
  compare("Transformer MLP dW",1,0,64,256,1280,1);
  compare("attention scores (Q·Kᵀ)",0,1,20,20,16,0);
  compare("logits, a batch (1280 rows)",0,0,1280,5000,32,0);
  compare("logits dW, a batch",1,0,32,5000,1280,1);
  compare("logits dx, a batch",0,1,1280,32,5000,0);
  compare("square 1024",0,0,1024,1024,1024,0);
  compare("square 2048",0,0,2048,2048,2048,0);
}
