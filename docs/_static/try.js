// The "try the networks" page (try.md): the shipped networks, exported to ONNX when the site is
// built (cifar_helpers/try_page.py), run by ONNX Runtime Web in the reader's browser.
(function () {
  "use strict";
  const SIZE = 32;
  const base = document.currentScript.src.replace(/try\.js(\?.*)?$/, "try/");
  const root = document.getElementById("try");
  const status = document.getElementById("try-status");
  const state = { manifest: null, sessions: [], shown: 0, last: null, generation: 0 };

  function say(text) { status.textContent = text; }
  function megabytes(bytes) { return (bytes / 1e6).toFixed(1) + " MB"; }
  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // PIL's box filter, one axis of 8-bit pixels (Pillow's ImagingResample, fixed point and all):
  // each new pixel the average of the old ones whose centres it covers, rounded.
  function boxWeights(inSize, outSize) {
    const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = 0.5 * filterscale;
    const rows = [];
    for (let out = 0; out < outSize; out++) {
      const center = (out + 0.5) * scale;
      const from = Math.max(Math.trunc(center - support + 0.5), 0);
      const to = Math.min(Math.trunc(center + support + 0.5), inSize);
      const weights = [];
      for (let x = from; x < to; x++) {
        const t = (x - center + 0.5) * (1 / filterscale);
        weights.push(t > -0.5 && t <= 0.5 ? 1 : 0);  // Pillow's box_filter: a centre on the edge goes left
      }
      const total = weights.reduce((a, b) => a + b, 0) || 1;
      rows.push({ from, weights: weights.map((w) => Math.trunc(0.5 + (w / total) * (1 << 22))) });
    }
    return rows;
  }

  function resample(pixels, width, height, outW, outH, horizontal) {
    const rows = boxWeights(horizontal ? width : height, horizontal ? outW : outH);
    const out = new Uint8ClampedArray(outW * outH * 4);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const { from, weights } = rows[horizontal ? x : y];
        for (let c = 0; c < 3; c++) {
          let sum = 1 << 21;
          weights.forEach((w, k) => {
            const i = horizontal ? (y * width + from + k) : ((from + k) * width + x);
            sum += w * pixels[i * 4 + c];
          });
          out[(y * outW + x) * 4 + c] = Math.min(255, Math.max(0, Math.floor(sum / (1 << 22))));
        }
        out[(y * outW + x) * 4 + 3] = 255;
      }
    }
    return out;
  }

  // A photo as notebook 03's cell sees it (cifar_helpers/photos.py): its centred square, 32x32.
  function asTheNetworksSeeIt(bitmap) {
    const side = Math.min(bitmap.width, bitmap.height);
    const canvas = element("canvas", { width: side, height: side });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.fillStyle = "#ffffff";  // a transparent photo on white, as photos.open_photo puts it
    context.fillRect(0, 0, side, side);
    context.drawImage(bitmap, -Math.floor((bitmap.width - side) / 2), -Math.floor((bitmap.height - side) / 2));
    const square = context.getImageData(0, 0, side, side).data;
    return resample(resample(square, side, side, SIZE, side, true), SIZE, side, SIZE, SIZE, false);
  }

  async function pixelsOf(image) {
    await image.decode();  // a picked image may not have loaded yet
    const canvas = element("canvas", { width: SIZE, height: SIZE });
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0);
    return context.getImageData(0, 0, SIZE, SIZE).data;
  }

  function input(pixels, network) {
    const data = new Float32Array(3 * SIZE * SIZE);
    for (let c = 0; c < 3; c++) {
      const scale = 1 / (255 * network.std[c]), shift = network.mean[c] / network.std[c];
      for (let i = 0; i < SIZE * SIZE; i++) data[c * SIZE * SIZE + i] = pixels[i * 4 + c] * scale - shift;
    }
    return new ort.Tensor("float32", data, [1, 3, SIZE, SIZE]);
  }

  function softmax(logits) {
    const top = Math.max(...logits), exps = logits.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((v) => v / total);
  }

  function bars(network, probabilities) {
    const classes = state.manifest.classes;
    const best = probabilities.indexOf(Math.max(...probabilities));
    const box = element("section", { class: "try-network", "data-network": network.model,
      "data-top": classes[best], "data-probabilities": JSON.stringify(probabilities) });
    box.append(element("h3", {}, network.name));
    box.append(element("p", { class: "try-accuracy" },
      `${network.test_acc.toFixed(2)}% of the 10,000 test images right; says: ${classes[best]}`));
    const list = element("ol", { class: "try-bars" });
    probabilities.forEach((p, k) => {
      const item = element("li", k === best ? { class: "try-best" } : {});
      item.append(element("span", { class: "try-class" }, classes[k]));
      const track = element("span", { class: "try-track", "aria-hidden": "true" });
      track.append(element("span", { class: "try-bar", style: `width: ${(100 * p).toFixed(1)}%` }));
      item.append(track, element("span", { class: "try-p" }, `${(100 * p).toFixed(1)}%`));
      list.append(item);
    });
    box.append(list);
    return box;
  }

  function drawMaps(network, maps) {
    const [, channels, height, width] = maps.dims;
    const holder = document.getElementById("try-maps");
    holder.replaceChildren();
    document.getElementById("try-maps-caption").textContent =
      `${channels} feature maps of ${network.name}'s first convolution (${network.layer}), each ${height}×${width}.`;
    for (let c = 0; c < channels; c++) {
      const values = maps.data.subarray(c * height * width, (c + 1) * height * width);
      const extent = Math.max(1e-12, ...Array.from(values, Math.abs));
      const canvas = element("canvas", { width, height, role: "img",
        "aria-label": `Feature map ${c + 1} of ${channels} of ${network.name}` });
      const context = canvas.getContext("2d");
      const image = context.createImageData(width, height);
      values.forEach((v, i) => {
        const t = v / extent, fade = Math.round(255 * (1 - Math.abs(t)));
        image.data.set(t >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], i * 4);
      });
      context.putImageData(image, 0, 0);
      holder.append(canvas);
    }
  }

  // Classify 32x32 RGBA pixels with every network, then draw it all at once; a newer call
  // (another pick before this one is done) wins.
  async function classify(pixels, caption, source) {
    const generation = ++state.generation;
    const manifest = state.manifest;
    const outputs = [];
    for (let n = 0; n < manifest.networks.length; n++) {
      outputs.push(await state.sessions[n].run({ images: input(pixels, manifest.networks[n]) }));
      if (generation !== state.generation) return false;
    }
    state.last = { pixels, caption, source };
    const seen = document.getElementById("try-seen").getContext("2d");
    const image = seen.createImageData(SIZE, SIZE);
    image.data.set(pixels);
    seen.putImageData(image, 0, 0);
    document.getElementById("try-seen-caption").textContent = caption;
    document.getElementById("try-results").replaceChildren(...manifest.networks.map((network, n) =>
      bars(network, softmax(Array.from(outputs[n].logits.data)))));
    drawMaps(manifest.networks[state.shown], outputs[state.shown].maps);
    root.dataset.source = source;
    root.dataset.seen = JSON.stringify(Array.from(pixels).filter((_, i) => i % 4 !== 3));
    root.dataset.classified = String(Number(root.dataset.classified || 0) + 1);
    return true;
  }

  async function pick(image, entry) {
    try {
      if (await classify(await pixelsOf(image), `Test image ${entry.index} (${entry.label}): 32×32 pixels, ` +
        "as the networks see it.", `test-${entry.index}`)) say(`Classified test image ${entry.index} (${entry.label}).`);
    } catch (error) {
      say(`Test image ${entry.index} could not be classified (${error.message}): reload the page.`);
    }
  }

  function pickers() {
    const holder = document.getElementById("try-images");
    for (const entry of state.manifest.images) {
      const button = element("button", { type: "button", class: "try-pick", "data-index": entry.index });
      const image = element("img", { src: base + entry.file, width: SIZE, height: SIZE,
        alt: `Test image ${entry.index} (${entry.label})` });
      button.append(image, element("span", {}, entry.label));
      button.addEventListener("click", () => pick(image, entry));
      holder.append(button);
    }
  }

  async function photo(file) {
    if (!file || !file.type.startsWith("image/")) {
      say(`${file ? file.name : "That"} is not an image: choose a JPEG or PNG photo.`);
      return;
    }
    try {
      // Pixels as stored, as PIL reads them: no colour-profile conversion, no premultiplied alpha.
      const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none",
        imageOrientation: "from-image" });
      if (await classify(asTheNetworksSeeIt(bitmap), `Your photo (${file.name}), cut to its centred square and ` +
        "shrunk to 32×32 pixels: what the networks see.", `photo:${file.name}`)) {
        say(`Classified your photo ${file.name}. It stays on your computer.`);
      }
    } catch (error) {
      say(`${file.name} could not be read as an image (${error.message}): choose a JPEG or PNG photo.`);
    }
  }

  function layerChoice() {
    const fieldset = document.getElementById("try-layer");
    state.manifest.networks.forEach((network, n) => {
      const id = `try-layer-${network.model}`;
      const radio = element("input", { type: "radio", name: "try-layer", id, value: String(n) });
      radio.checked = n === state.shown;
      radio.addEventListener("change", () => {
        state.shown = n;
        if (state.last) classify(state.last.pixels, state.last.caption, state.last.source);
      });
      fieldset.append(radio, element("label", { for: id }, network.name));
    });
  }

  // Until the networks are loaded, a dropped file is neither classified nor opened by the browser.
  const chooser = document.getElementById("try-photo");
  const drop = document.getElementById("try-drop");
  chooser.disabled = true;
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  function listen() {
    chooser.addEventListener("change", () => {
      photo(chooser.files[0]);
      chooser.value = "";  // the same file chosen again is a new choice
    });
    drop.addEventListener("dragover", () => drop.classList.add("try-over"));
    drop.addEventListener("dragleave", () => drop.classList.remove("try-over"));
    drop.addEventListener("drop", (event) => {
      drop.classList.remove("try-over");
      photo(event.dataTransfer.files[0]);
    });
    chooser.disabled = false;
  }

  async function start() {
    if (location.protocol === "file:") {
      say("This page loads its networks over http: serve the site (python3 -m http.server 8000 --directory " +
        "runs/full/site) and open http://localhost:8000/try.html.");
      return;
    }
    if (typeof ort === "undefined") {
      say("ONNX Runtime Web is not part of this build of the site (npm was missing or failed when it was " +
        "built): install Node.js with npm and build the site again (python -m cifar_helpers site runs/full).");
      return;
    }
    const response = await fetch(base + "manifest.json");
    if (!response.ok) throw new Error(`manifest.json: ${response.status}`);
    const manifest = await response.json();
    state.manifest = manifest;
    const bytes = manifest.bytes, n = manifest.networks.length;
    const count = ["no", "one", "two", "three", "four", "five"][n] || String(n);
    document.getElementById("try-weight").textContent = `This page downloads ` +
      `${megabytes(bytes.runtime + bytes.networks + bytes.images)} once: ONNX Runtime Web ` +
      `${megabytes(bytes.runtime)}, the ${count} networks ${megabytes(bytes.networks)}, the ` +
      `${manifest.images.length} images ${megabytes(bytes.images)}.`;
    say(`Loading the ${count} networks ...`);
    ort.env.wasm.wasmPaths = base;
    ort.env.wasm.numThreads = 1;
    for (const network of manifest.networks) {
      state.sessions.push(await ort.InferenceSession.create(base + network.file, { executionProviders: ["wasm"] }));
    }
    pickers();
    layerChoice();
    listen();
    const first = document.querySelector(".try-pick img");
    await pick(first, manifest.images[0]);
    say(`Ready: the ${count} networks run in this page, on your computer. Pick an image or choose a photo.`);
    root.dataset.ready = "true";
  }

  start().catch((error) => say(`The networks could not be loaded (${error.message}). Reload the page; if it ` +
    "fails again, build the site again (python -m cifar_helpers site runs/full)."));
})();
