import { defineConfig } from "vite";

// Relative asset paths: the same dist is served by `berth dashboard` and loaded by Tauri.
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2021" },
  server: { port: 5173, strictPort: true },
});
