/** OCI image layouts: digests, descriptors, manifests, blobs and tags in index.json. */
package dev.obd.image.oci;
