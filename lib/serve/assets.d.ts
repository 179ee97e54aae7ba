/** hls.js's prebuilt browser script, embedded as text (`with { type: "text" }`). */
declare module "hls.js/dist/hls.min.js" {
  const text: string;
  export default text;
}
