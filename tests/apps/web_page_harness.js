// Runs the web page's own script under Node with a stub DOM against a live server:
// node web_page_harness.js PAGE_URL AUDIO_FILE ; prints the finished job's HTML, exits 0 when it has results.
const fs = require("fs");
const [base, audio] = process.argv.slice(2);
const elements = {};
const element = () => ({ textContent: "", innerHTML: "", disabled: false, files: [], className: "",
                         prepend(child) { this.children = [child, ...(this.children || [])]; } });
globalThis.document = { getElementById: id => (elements[id] ||= element()), createElement: element };
const realFetch = globalThis.fetch;
globalThis.fetch = (url, options) => realFetch(base + url, options && options.body ? { ...options, duplex: "half" } : options);

(async () => {
  const page = await (await realFetch(base + "/")).text();
  eval(page.split("<script>")[1].split("</script>")[0]);
  await elements.go.onclick();  // nothing chosen yet
  if (elements.message.textContent !== "Choose an audio file first.") throw new Error("no message without a file");
  const file = new Blob([fs.readFileSync(audio)]);
  Object.defineProperty(file, "name", { value: "my song.wav" });
  elements.file.files = [file];
  await elements.go.onclick();
  if (!elements.jobs.children) throw new Error("no job shown: " + elements.message.textContent);
  const box = elements.jobs.children[0];
  for (let i = 0; i < 240 && !/<p>(done|failed)<\/p>/.test(box.innerHTML); i++) await new Promise(r => setTimeout(r, 250));
  console.log(box.innerHTML);
  process.exit(box.innerHTML.includes("<p>done</p>") ? 0 : 1);
})().catch(error => { console.error(String(error)); process.exit(2); });
