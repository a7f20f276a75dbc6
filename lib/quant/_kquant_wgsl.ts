export const WGSL_KQUANT = "";
export const WGSL_Q4_K_BLOCK = "";
export const WGSL_Q5_K_BLOCK = "";
export const WGSL_Q2_K_BLOCK = "";
export const WGSL_Q3_K_BLOCK = "";
export const WGSL_Q6_K_BLOCK = "";
